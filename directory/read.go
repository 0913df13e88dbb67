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
func (d *Directory) Read(ctx context.Context, attrs []string) (*Snapshot, error) {
	var snap *Snapshot
	err := d.retry(ctx, "read", func(ctx context.Context) error {
		var err error
		snap, err = d.readOnce(ctx, attrs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

func (d *Directory) readOnce(ctx context.Context, attrs []string) (*Snapshot, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	flavor, err := detectFlavor(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.Close()
	conv := newConverter(flavor, attrs)
	filters := []string{d.cfg.UserFilter}
	if flavor == OpenLDAP && d.opts.Connections > 1 {
		filters = uuidRanges(d.cfg.UserFilter, d.opts.Connections)
	}
	parts := make([][]Entry, len(filters))
	p := pool.New().WithContext(ctx).WithCancelOnError().WithFirstError()
	for i, f := range filters {
		p.Go(func(ctx context.Context) error {
			w, err := d.dialWire(ctx)
			if err != nil {
				return err
			}
			defer w.Close()
			parts[i], err = d.searchWire(ctx, w, f, conv)
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
	d.opts.Logger.Info("directory read", slog.String("flavor", string(flavor)), slog.Int("entries", len(snap.Entries)),
		slog.Int("searches", len(filters)))
	return snap, nil
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
				return nil, errs.Errorf(op, errs.Permanent, "the server referred to %s; set LDAP_URL to the server that holds %s", ref, d.cfg.BaseDN)
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

// uuidRanges splits filter into n disjoint filters by ranges of entryUUID
// (which OpenLDAP orders with UUIDOrderingMatch); together they select
// exactly what filter selects.
func uuidRanges(filter string, n int) []string {
	n = min(n, 16)
	bounds := make([]string, n+1)
	for i := 1; i < n; i++ {
		bounds[i] = fmt.Sprintf("%x0000000-0000-0000-0000-000000000000", i*16/n)
	}
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		b.WriteString("(&")
		b.WriteString(filter)
		if i > 0 {
			b.WriteString("(entryUUID>=" + bounds[i] + ")")
		}
		if i < n-1 {
			b.WriteString("(!(entryUUID>=" + bounds[i+1] + "))")
		}
		b.WriteString(")")
		out[i] = b.String()
	}
	return out
}

// Lookup returns the people whose attr equals value (the server's matching
// rule decides case). value is escaped here, and only here.
func (d *Directory) Lookup(ctx context.Context, attrs []string, attr, value string) (*Snapshot, error) {
	if attr == "" || strings.ContainsAny(attr, "()=*\\ ") {
		return nil, errs.Errorf("directory.Lookup", errs.Invalid, "attribute name %q", attr)
	}
	filter := "(&" + d.cfg.UserFilter + "(" + attr + "=" + ldap.EscapeFilter(value) + "))"
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
		conv := newConverter(flavor, attrs)
		entries, err := d.search(ctx, conn, filter, conv)
		if err != nil {
			return err
		}
		snap = &Snapshot{Flavor: flavor, Attributes: slices.Clone(attrs), Entries: entries}
		return nil
	})
	return snap, err
}
