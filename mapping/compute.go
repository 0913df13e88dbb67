package mapping

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/sourcegraph/conc"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/internal/parallel"
)

// User is what mapping needs of a Zoom user.
type User struct {
	Account          string
	Key              string // the store's user key; the "id" field unless ID is set
	ID               string // Zoom user id, when it differs from Key
	Email            string
	EmployeeUniqueID string
	Extension        string
	Status           string // active, inactive, pending, deleted
	Link             Link   // the link stored by the previous run, if any
}

// Field returns the value of a rule's Zoom field.
func (u *User) Field(name string) string {
	switch name {
	case FieldEmail:
		return u.Email
	case FieldEmployeeUniqueID:
		return u.EmployeeUniqueID
	case FieldExtension:
		return u.Extension
	case FieldID:
		if u.ID != "" {
			return u.ID
		}
		return u.Key
	}
	return ""
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

// State is what Compute decided for one user.
type State uint8

// States.
const (
	Skipped    State = iota // a deleted user: takes no part
	Matched                 // linked to Outcome.Entry by Outcome.Rule
	Unmatched               // no rule matched and no link kept
	Conflicted              // part of a Conflict
)

func (s State) String() string {
	return [...]string{"skipped", "matched", "unmatched", "conflict"}[s]
}

// Outcome is Compute's decision for one user.
type Outcome struct {
	State State
	Entry int    // index into the snapshot's Entries when Matched
	Rule  string // the rule that matched (or the kept link's)
}

// Result is the outcome of Compute.
type Result struct {
	// Of holds one Outcome per user, in the order Compute got them.
	Of               []Outcome
	Links            []Linked
	UnmatchedUsers   []Ref      // no rule matched and no link kept
	UnmatchedEntries []int      // enabled entries no user is linked to or claims
	Conflicts        []Conflict // see the package invariants
	// DisabledActive are links whose entry is disabled in the directory
	// while the Zoom user is still active: the deprovisioning gap.
	DisabledActive []Linked
}

// Compute links users to entries of snap by rules (see the package doc).
// The index of entries, the rule matching of users and the final sorts run
// on every core; the decisions themselves are taken in user order.
func Compute(rules []Rule, users []User, snap *directory.Snapshot) *Result {
	idx := newIndex(rules, snap)
	matches := idx.matchAll(users)
	type proposal struct {
		user  int // into users
		entry int
		rule  string
	}
	n := len(snap.Entries)
	var props []proposal
	claims := make([]int32, n)  // proposals per entry
	involved := make([]bool, n) // entries named in a conflict
	res := &Result{Of: make([]Outcome, len(users))}
	for i := range users {
		u := &users[i]
		if u.Status == "deleted" {
			continue
		}
		cands, rule := matches[i].cands, matches[i].rule
		prev, hasPrev := idx.byID[u.Link.EntryID]
		switch {
		case hasPrev && (len(cands) == 0 || (len(cands) == 1 && cands[0] == prev)):
			r := u.Link.Rule
			if len(cands) == 1 {
				r = idx.names[rule]
			}
			props = append(props, proposal{user: i, entry: prev, rule: r})
			claims[prev]++
		case hasPrev:
			entries := append([]int{prev}, cands...)
			res.Conflicts = append(res.Conflicts, Conflict{
				Reason:  fmt.Sprintf("linked to %s, but rule %s now matches %s", snap.Entries[prev].DN, idx.names[rule], dnList(snap, cands)),
				Users:   []Ref{ref(u)},
				Entries: dns(snap, entries),
			})
			markAll(involved, entries)
			res.Of[i].State = Conflicted
		case len(cands) == 1:
			props = append(props, proposal{user: i, entry: cands[0], rule: idx.names[rule]})
			claims[cands[0]]++
		case len(cands) > 1:
			res.Conflicts = append(res.Conflicts, Conflict{
				Reason:  fmt.Sprintf("rule %s matches %d entries", idx.names[rule], len(cands)),
				Users:   []Ref{ref(u)},
				Entries: dns(snap, cands),
			})
			markAll(involved, cands)
			res.Of[i].State = Conflicted
		default:
			res.UnmatchedUsers = append(res.UnmatchedUsers, ref(u))
			res.Of[i].State = Unmatched
		}
	}
	shared := map[int]*Conflict{} // entries claimed by several users
	for _, p := range props {
		if claims[p.entry] < 2 {
			continue
		}
		c := shared[p.entry]
		if c == nil {
			c = &Conflict{Reason: fmt.Sprintf("%d Zoom users match the same entry", claims[p.entry]), Entries: dns(snap, []int{p.entry})}
			shared[p.entry] = c
			involved[p.entry] = true
		}
		c.Users = append(c.Users, ref(&users[p.user]))
		res.Of[p.user].State = Conflicted
	}
	for _, c := range shared {
		sortRefs(c.Users)
		res.Conflicts = append(res.Conflicts, *c)
	}
	linked := make([]bool, n)
	res.Links = make([]Linked, 0, len(props))
	for _, p := range props {
		if claims[p.entry] > 1 {
			continue
		}
		u := &users[p.user]
		l := Linked{User: ref(u), Entry: p.entry, Rule: p.rule}
		res.Links = append(res.Links, l)
		res.Of[p.user] = Outcome{State: Matched, Entry: p.entry, Rule: p.rule}
		linked[p.entry] = true
		if snap.Entries[p.entry].Disabled && u.Status == "active" {
			res.DisabledActive = append(res.DisabledActive, l)
		}
	}
	for i := range snap.Entries {
		if !linked[i] && !involved[i] && !snap.Entries[i].Disabled {
			res.UnmatchedEntries = append(res.UnmatchedEntries, i)
		}
	}
	byUser := func(a, b Linked) int { return compareRefs(a.User, b.User) }
	var sorting conc.WaitGroup
	sorting.Go(func() { slices.SortFunc(res.Links, byUser) })
	sorting.Go(func() {
		slices.SortFunc(res.UnmatchedEntries, func(a, b int) int { return strings.Compare(snap.Entries[a].DN, snap.Entries[b].DN) })
	})
	slices.SortFunc(res.DisabledActive, byUser)
	sortRefs(res.UnmatchedUsers)
	slices.SortFunc(res.Conflicts, func(a, b Conflict) int {
		if c := compareRefs(a.Users[0], b.Users[0]); c != 0 {
			return c
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	sorting.Wait()
	return res
}

// match is what the rules found for one user: the candidates of the
// first rule that has any, and that rule's position (-1: none).
type match struct {
	cands []int
	rule  int
}

// matchAll matches every user, in chunks on every core (each user's match
// reads only the index).
func (idx *index) matchAll(users []User) []match {
	out := make([]match, len(users))
	parallel.Chunks(len(users), 1024, func(first, last int) {
		for i := first; i < last; i++ {
			if users[i].Status != "deleted" {
				out[i].cands, out[i].rule = idx.match(&users[i])
			}
		}
	})
	return out
}

// index maps each rule's normalised attribute values to entries.
type index struct {
	rules  []Rule
	names  []string           // rules[i].String(), made once
	values []map[string][]int // per rule
	byID   map[string]int
}

// newIndex builds the maps of entries by id and by each rule's values,
// each in its own goroutine.
func newIndex(rules []Rule, snap *directory.Snapshot) *index {
	idx := &index{rules: rules, values: make([]map[string][]int, len(rules)), byID: make(map[string]int, len(snap.Entries))}
	for _, r := range rules {
		idx.names = append(idx.names, r.String())
	}
	var wg conc.WaitGroup
	wg.Go(func() {
		for i := range snap.Entries {
			idx.byID[snap.Entries[i].ID] = i
		}
	})
	for r, rule := range rules {
		pos := snap.Position(rule.Attribute)
		wg.Go(func() {
			m := make(map[string][]int, len(snap.Entries))
			for i := range snap.Entries {
				if pos < 0 {
					break
				}
				for _, v := range snap.Entries[i].Values(pos) {
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
		})
	}
	wg.Wait()
	return idx
}

// match returns the candidates of the first rule that has any, and that
// rule's position.
func (idx *index) match(u *User) ([]int, int) {
	for r, rule := range idx.rules {
		v := Normalize(rule.ZoomField, u.Field(rule.ZoomField))
		if v == "" {
			continue
		}
		if c := idx.values[r][v]; len(c) > 0 {
			return c, r
		}
	}
	return nil, -1
}

func ref(u *User) Ref { return Ref{Account: u.Account, Key: u.Key, Email: u.Email} }

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

func markAll(m []bool, entries []int) {
	for _, e := range entries {
		m[e] = true
	}
}
