package mapping

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/zoomsync/zoomsync/directory"
)

// User is what mapping needs of a Zoom user.
type User struct {
	Account string
	Key     string            // the store's user key
	Fields  map[string]string // email, employee_unique_id, id, extension
	Status  string            // active, inactive, pending, deleted
	Link    Link              // the link stored by the previous run, if any
}

// Ref names a Zoom user.
type Ref struct {
	Account string `json:"account_id"`
	Key     string `json:"zoom_user_id"`
	Email   string `json:"email,omitempty"`
}

// Link is a user's directory entry and the rule that found it.
type Link struct {
	EntryID string `json:"entry_id"`
	Rule    string `json:"rule"`
}

// Linked is one link of a Result.
type Linked struct {
	User  Ref
	Entry int // index into the snapshot's Entries
	Rule  string
}

// Conflict is an ambiguity left for a person to resolve.
type Conflict struct {
	Reason  string   `json:"reason"`
	Users   []Ref    `json:"users"`
	Entries []string `json:"entries"` // DNs
}

// Result is the outcome of Compute.
type Result struct {
	Links            []Linked
	UnmatchedUsers   []Ref      // no rule matched and no link kept
	UnmatchedEntries []int      // enabled entries no user is linked to or claims
	Conflicts        []Conflict // see the package invariants
	// DisabledActive are links whose entry is disabled in the directory
	// while the Zoom user is still active: the deprovisioning gap.
	DisabledActive []Linked
}

// Compute links users to entries of snap by rules (see the package doc).
func Compute(rules []Rule, users []User, snap *directory.Snapshot) *Result {
	idx := newIndex(rules, snap)
	type proposal struct {
		user    *User
		entry   int
		rule    string
		blocked bool
	}
	var props []*proposal
	claims := map[int][]*proposal{}
	res := &Result{}
	involved := map[int]bool{} // entries named in a conflict
	for i := range users {
		u := &users[i]
		if u.Status == "deleted" {
			continue
		}
		cands, rule := idx.match(u)
		prev, hasPrev := idx.byID[u.Link.EntryID]
		switch {
		case hasPrev && (len(cands) == 0 || (len(cands) == 1 && cands[0] == prev)):
			r := u.Link.Rule
			if len(cands) == 1 {
				r = rule.String()
			}
			p := &proposal{user: u, entry: prev, rule: r}
			props = append(props, p)
			claims[prev] = append(claims[prev], p)
		case hasPrev:
			entries := append([]int{prev}, cands...)
			res.Conflicts = append(res.Conflicts, Conflict{
				Reason:  fmt.Sprintf("linked to %s, but rule %s now matches %s", snap.Entries[prev].DN, rule, dnList(snap, cands)),
				Users:   []Ref{ref(u)},
				Entries: dns(snap, entries),
			})
			markAll(involved, entries)
		case len(cands) == 1:
			p := &proposal{user: u, entry: cands[0], rule: rule.String()}
			props = append(props, p)
			claims[cands[0]] = append(claims[cands[0]], p)
		case len(cands) > 1:
			res.Conflicts = append(res.Conflicts, Conflict{
				Reason:  fmt.Sprintf("rule %s matches %d entries", rule, len(cands)),
				Users:   []Ref{ref(u)},
				Entries: dns(snap, cands),
			})
			markAll(involved, cands)
		default:
			res.UnmatchedUsers = append(res.UnmatchedUsers, ref(u))
		}
	}
	for entry, ps := range claims {
		if len(ps) < 2 {
			continue
		}
		c := Conflict{Reason: fmt.Sprintf("%d Zoom users match the same entry", len(ps)), Entries: dns(snap, []int{entry})}
		for _, p := range ps {
			p.blocked = true
			c.Users = append(c.Users, ref(p.user))
		}
		sortRefs(c.Users)
		res.Conflicts = append(res.Conflicts, c)
		involved[entry] = true
	}
	linked := map[int]bool{}
	for _, p := range props {
		if p.blocked {
			continue
		}
		l := Linked{User: ref(p.user), Entry: p.entry, Rule: p.rule}
		res.Links = append(res.Links, l)
		linked[p.entry] = true
		if snap.Entries[p.entry].Disabled && p.user.Status == "active" {
			res.DisabledActive = append(res.DisabledActive, l)
		}
	}
	for i := range snap.Entries {
		if !linked[i] && !involved[i] && !snap.Entries[i].Disabled {
			res.UnmatchedEntries = append(res.UnmatchedEntries, i)
		}
	}
	byUser := func(a, b Linked) int { return compareRefs(a.User, b.User) }
	slices.SortFunc(res.Links, byUser)
	slices.SortFunc(res.DisabledActive, byUser)
	sortRefs(res.UnmatchedUsers)
	slices.SortFunc(res.UnmatchedEntries, func(a, b int) int { return strings.Compare(snap.Entries[a].DN, snap.Entries[b].DN) })
	slices.SortFunc(res.Conflicts, func(a, b Conflict) int {
		if c := compareRefs(a.Users[0], b.Users[0]); c != 0 {
			return c
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	return res
}

// index maps each rule's normalised attribute values to entries.
type index struct {
	rules  []Rule
	values []map[string][]int // per rule
	byID   map[string]int
}

func newIndex(rules []Rule, snap *directory.Snapshot) *index {
	idx := &index{rules: rules, values: make([]map[string][]int, len(rules)), byID: make(map[string]int, len(snap.Entries))}
	for i := range snap.Entries {
		idx.byID[snap.Entries[i].ID] = i
	}
	for r, rule := range rules {
		m := make(map[string][]int, len(snap.Entries))
		for i := range snap.Entries {
			for _, v := range snap.Get(&snap.Entries[i], rule.Attribute) {
				n := Normalize(rule.ZoomField, v)
				if n == "" {
					continue
				}
				if l := m[n]; len(l) > 0 && l[len(l)-1] == i {
					continue // the same entry lists the value twice (SMTP: and smtp:)
				}
				m[n] = append(m[n], i)
			}
		}
		idx.values[r] = m
	}
	return idx
}

// match returns the candidates of the first rule that has any.
func (idx *index) match(u *User) ([]int, Rule) {
	for r, rule := range idx.rules {
		v := Normalize(rule.ZoomField, u.Fields[rule.ZoomField])
		if v == "" {
			continue
		}
		if c := idx.values[r][v]; len(c) > 0 {
			return c, rule
		}
	}
	return nil, Rule{}
}

func ref(u *User) Ref { return Ref{Account: u.Account, Key: u.Key, Email: u.Fields[FieldEmail]} }

func compareRefs(a, b Ref) int {
	return cmp.Or(strings.Compare(a.Account, b.Account), strings.Compare(a.Key, b.Key))
}

func sortRefs(r []Ref) { slices.SortFunc(r, compareRefs) }

func dns(snap *directory.Snapshot, entries []int) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = snap.Entries[e].DN
	}
	slices.Sort(out)
	return out
}

func dnList(snap *directory.Snapshot, entries []int) string {
	return strings.Join(dns(snap, entries), "; ")
}

func markAll(m map[int]bool, entries []int) {
	for _, e := range entries {
		m[e] = true
	}
}
