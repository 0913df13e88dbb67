package directory

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"github.com/sourcegraph/conc/pool"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// adPageCap is the largest page Active Directory serves (MaxPageSize).
const adPageCap = 1000

// Read returns every person under the base DN matching the user filter,
// with the given attributes. It is all or nothing (see the package
// invariants); transient failures restart the whole read.
//
// splits are entryUUIDs, ascending, where an OpenLDAP read is cut into
// disjoint ranges searched at once over their own connections (the
// server works on each range in its own thread); SplitPoints of the
// previous snapshot gives ranges of equal size. Without splits, or on
// other servers, one paged search reads everything.
func (d *Directory) Read(ctx context.Context, attrs []string, splits []string) (*Snapshot, error) {
	var snap *Snapshot
	err := d.retry(ctx, "read", func(ctx context.Context) error {
		var err error
		snap, err = d.readOnce(ctx, attrs, splits)
		return err
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

func (d *Directory) readOnce(ctx context.Context, attrs []string, splits []string) (*Snapshot, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	flavor, err := detectFlavor(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := d.checkGroup(conn); err != nil {
		conn.Close()
		return nil, err
	}
	conn.Close()
	conv := newConverter(flavor, attrs, d.opts.Clock.Now())
	people := d.cfg.peopleFilter(flavor)
	filters := []string{people}
	if flavor == OpenLDAP && validSplits(splits) {
		filters = uuidRanges(people, splits)
	}
	parts := make([][]Entry, len(filters))
	refs := make([][]string, len(filters))
	p := pool.New().WithContext(ctx).WithCancelOnError().WithFirstError()
	for i, f := range filters {
		p.Go(func(ctx context.Context) error {
			w, err := d.dialWire(ctx)
			if err != nil {
				return err
			}
			defer w.Close()
			parts[i], refs[i], err = d.searchWire(ctx, w, f, conv)
			return err
		})
	}
	if err := p.Wait(); err != nil {
		return nil, err
	}
	snap := &Snapshot{Flavor: flavor, Attributes: slices.Clone(attrs)}
	n := 0
	for _, part := range parts {
		n += len(part)
	}
	snap.Entries = make([]Entry, 0, n)
	seen := make(map[string]bool, n)
	for _, part := range parts {
		for _, e := range part {
			if seen[e.ID] {
				// Ranges are disjoint; an id twice means the server answered
				// inconsistently, and a read we cannot trust is no read.
				return nil, errs.Errorf("directory.Read", errs.Transient, "entry id %s returned twice (%s)", e.ID, e.DN)
			}
			seen[e.ID] = true
			snap.Entries = append(snap.Entries, e)
		}
	}
	d.logReferences(slices.Concat(refs...))
	d.opts.Logger.Info("directory read", slog.String("flavor", string(flavor)), slog.Int("entries", len(snap.Entries)),
		slog.Int("searches", len(filters)))
	return snap, nil
}

// logReferences says which search continuation references a read
// skipped. Active Directory answers a search at the domain root with the
// people plus references to the partitions below it that it holds apart
// (CN=Configuration, and on Windows DomainDnsZones and ForestDnsZones),
// which hold no people of this domain; zoomsync does not follow them.
func (d *Directory) logReferences(refs []string) {
	if len(refs) == 0 {
		return
	}
	slices.Sort(refs)
	refs = slices.Compact(refs)
	const shown = 10
	more := max(0, len(refs)-shown)
	d.opts.Logger.Info("directory: skipped search continuation references (zoomsync reads the server of LDAP_URL only; "+
		"point LDAP_URL at a Global Catalog to read every domain of a forest)",
		slog.Any("references", refs[:min(len(refs), shown)]), slog.Int("more", more))
}

// checkGroup makes sure LDAP_GROUP_DN names an entry the service account
// can see: a misspelt group would otherwise read as a directory without
// people.
func (d *Directory) checkGroup(conn *ldap.Conn) error {
	if d.cfg.GroupDN == "" {
		return nil
	}
	_, err := conn.Search(ldap.NewSearchRequest(d.cfg.GroupDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return errs.Errorf("directory.Read", errs.Invalid, "LDAP_GROUP_DN %q: no such entry on %s (or the service account cannot see it)", d.cfg.GroupDN, d.cfg.URL)
	}
	if err != nil {
		return classify("directory.Read", fmt.Errorf("reading LDAP_GROUP_DN %q: %w", d.cfg.GroupDN, err))
	}
	return nil
}

// search runs one paged search to its end, page by page, streaming each
// page's entries (SearchAsync) instead of buffering the whole result.
func (d *Directory) search(ctx context.Context, conn *ldap.Conn, filter string, conv *converter) ([]Entry, error) {
	const op = "directory.Read"
	pageSize := d.cfg.PageSize
	paging := ldap.NewControlPaging(uint32(pageSize))
	var out []Entry
	for {
		req := ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0,
			int(d.cfg.Timeout.Seconds()), false, filter, conv.request(), []ldap.Control{paging})
		res := conn.SearchAsync(ctx, req, 256)
		var controls []ldap.Control
		page := 0
		for res.Next() {
			if e := res.Entry(); e != nil {
				page++
				out = append(out, conv.convert(e))
				continue
			}
			if ref := res.Referral(); ref != "" {
				continue // a search continuation reference: not followed (see logReferences)
			}
			if c := res.Controls(); len(c) > 0 {
				controls = c
			}
		}
		if err := res.Err(); err != nil {
			if ldap.IsErrorWithCode(err, ldap.LDAPResultAdminLimitExceeded) && pageSize > adPageCap && len(out) == 0 {
				// Like Active Directory, the server refuses pages this large.
				d.opts.Logger.Warn("directory: page size refused by the server; using 1000",
					slog.Int("LDAP_PAGE_SIZE", pageSize))
				pageSize = adPageCap
				paging = ldap.NewControlPaging(uint32(pageSize))
				continue
			}
			if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
				return nil, errs.Errorf(op, errs.Permanent, "size limit exceeded after %d entries: the server ignores paging for this account", len(out))
			}
			if ldap.IsErrorWithCode(err, ldap.LDAPResultReferral) {
				return nil, d.referralError(nil)
			}
			return nil, classify(op, fmt.Errorf("search %s under %s: %w", filter, d.cfg.BaseDN, err))
		}
		if ctx.Err() != nil {
			return nil, ctx.Err() // a cancelled SearchAsync just stops: never a complete read
		}
		if d.afterPage != nil {
			d.afterPage(page)
		}
		ctrl, _ := ldap.FindControl(controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if ctrl == nil && conn.IsClosing() {
			// go-ldap ends a search on a closed connection without an
			// error; without the paging control of the final message we
			// cannot tell the end of the result from a lost connection.
			return nil, errs.Errorf(op, errs.Unavailable, "connection to %s lost during the search (after %d entries)", d.cfg.URL, len(out))
		}
		if ctrl == nil || len(ctrl.Cookie) == 0 {
			return out, nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
}

// detectFlavor reads the rootDSE.
func detectFlavor(conn *ldap.Conn) (Flavor, error) {
	res, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"objectClass", "supportedCapabilities", "structuralObjectClass"}, nil))
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) || ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			return Generic, nil // rootDSE hidden: read it the portable way
		}
		return "", classify("directory.Read", fmt.Errorf("reading the rootDSE: %w", err))
	}
	if len(res.Entries) == 0 {
		return Generic, nil
	}
	e := res.Entries[0]
	if slices.Contains(e.GetAttributeValues("supportedCapabilities"), oidActiveDirectory) {
		return ActiveDirectory, nil
	}
	for _, oc := range append(e.GetAttributeValues("objectClass"), e.GetAttributeValues("structuralObjectClass")...) {
		if strings.EqualFold(oc, "OpenLDAProotDSE") {
			return OpenLDAP, nil
		}
	}
	return Generic, nil
}

// uuidRanges splits filter at the splits into len(splits)+1 disjoint
// filters by ranges of entryUUID (which OpenLDAP orders with
// UUIDOrderingMatch, byte by byte: the order of the lower-case text);
// together they select exactly what filter selects, since every OpenLDAP
// entry has an entryUUID.
func uuidRanges(filter string, splits []string) []string {
	out := make([]string, len(splits)+1)
	for i := range out {
		var b strings.Builder
		b.WriteString("(&")
		b.WriteString(filter)
		if i > 0 {
			b.WriteString("(entryUUID>=" + ldap.EscapeFilter(splits[i-1]) + ")")
		}
		if i < len(splits) {
			b.WriteString("(!(entryUUID>=" + ldap.EscapeFilter(splits[i]) + "))")
		}
		b.WriteString(")")
		out[i] = b.String()
	}
	return out
}

// validSplits reports whether splits can cut a read: UUIDs in strictly
// ascending order (they come from a stored snapshot; anything else reads
// with one search).
func validSplits(splits []string) bool {
	if len(splits) == 0 || len(splits) > maxSplits {
		return false
	}
	for i, s := range splits {
		if !isUUID(s) || (i > 0 && s <= splits[i-1]) {
			return false
		}
	}
	return true
}

// maxSplits bounds the searches one read runs at once.
const maxSplits = 15

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		default:
			return false
		}
	}
	return true
}

// SplitPoints returns where the next read of this directory can be cut
// into Options.Connections ranges of equal size, from a snapshot it
// returned: nil for servers whose ids cannot be ranged (not OpenLDAP) and
// for directories too small to gain from it.
func (d *Directory) SplitPoints(s *Snapshot) []string {
	n := min(d.opts.Connections, maxSplits+1)
	if s == nil || s.Flavor != OpenLDAP || n < 2 || len(s.Entries) < minSplitEntries {
		return nil
	}
	ids := make([]string, len(s.Entries))
	for i := range s.Entries {
		ids[i] = s.Entries[i].ID
	}
	slices.Sort(ids)
	var out []string
	for i := 1; i < n; i++ {
		id := ids[i*len(ids)/n]
		if isUUID(id) && (len(out) == 0 || id > out[len(out)-1]) {
			out = append(out, id)
		}
	}
	return out
}

// minSplitEntries: below this a read is one search (the extra
// connections and binds cost more than they save).
const minSplitEntries = 5000

// Lookup returns the people whose attr equals value (the server's matching
// rule decides case). value is escaped here, and only here.
func (d *Directory) Lookup(ctx context.Context, attrs []string, attr, value string) (*Snapshot, error) {
	if attr == "" || strings.ContainsAny(attr, "()=*\\ ") {
		return nil, errs.Errorf("directory.Lookup", errs.Invalid, "attribute name %q", attr)
	}
	var snap *Snapshot
	err := d.retry(ctx, "lookup", func(ctx context.Context) error {
		conn, err := d.connect(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		flavor, err := detectFlavor(conn)
		if err != nil {
			return err
		}
		filter := "(&" + d.cfg.peopleFilter(flavor) + "(" + attr + "=" + ldap.EscapeFilter(value) + "))"
		conv := newConverter(flavor, attrs, d.opts.Clock.Now())
		entries, err := d.search(ctx, conn, filter, conv)
		if err != nil {
			return err
		}
		snap = &Snapshot{Flavor: flavor, Attributes: slices.Clone(attrs), Entries: entries}
		return nil
	})
	return snap, err
}
