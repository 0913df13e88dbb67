package dirfake

import (
	"crypto/sha1"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"github.com/hashicorp/go-hclog"
	"github.com/jimlambrt/gldap"

	"github.com/zoomsync/zoomsync/internal/people"
)

// Options configure Start.
type Options struct {
	BindDN   string // default people.ServiceBindDN
	Password string // default people.ServicePassword
	People   int    // generated people 1..People (package people)
	PageCap  int    // like Active Directory's MaxPageSize; 0: no cap
}

// Entry is a directory entry.
type Entry struct {
	DN         string
	Attributes map[string][]string
}

type entry struct {
	dn    string
	attrs map[string][]string // lower-case name → values
	names map[string]string   // lower-case name → name as given
}

// Server is a running in-process directory.
type Server struct {
	srv  *gldap.Server
	addr string
	opts Options

	mu      sync.Mutex
	entries []*entry
	bound   map[int]bool // connection id → bound as the service account
}

// Start serves the directory on a loopback port.
func Start(opts Options) (*Server, error) {
	if opts.BindDN == "" {
		opts.BindDN, opts.Password = people.ServiceBindDN, people.ServicePassword
	}
	s := &Server{opts: opts, bound: map[int]bool{}}
	for _, dn := range []string{people.BaseDN, people.UsersDN} {
		s.put(Entry{DN: dn, Attributes: map[string][]string{"objectClass": {"top", "organizationalUnit"}}})
	}
	for i := 1; i <= opts.People; i++ {
		p := people.At(i)
		s.put(Entry{DN: p.DN(), Attributes: p.Attributes()})
	}
	srv, err := gldap.NewServer(gldap.WithLogger(hclog.New(&hclog.LoggerOptions{Output: io.Discard})), gldap.WithDisablePanicRecovery())
	if err != nil {
		return nil, err
	}
	mux, err := gldap.NewMux()
	if err != nil {
		return nil, err
	}
	if err := mux.Bind(s.bind); err != nil {
		return nil, err
	}
	if err := mux.Search(s.search); err != nil {
		return nil, err
	}
	if err := srv.Router(mux); err != nil {
		return nil, err
	}
	s.srv = srv
	// gldap listens on an address, not a listener: take a free port and,
	// should another process grab it first, another.
	for attempt := 0; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s.addr = l.Addr().String()
		l.Close()
		errc := make(chan error, 1)
		go func() { errc <- srv.Run(s.addr) }()
		for !srv.Ready() {
			runtime.Gosched()
		}
		c, err := net.Dial("tcp", s.addr)
		if err == nil {
			c.Close()
			break
		}
		if err := <-errc; attempt >= 4 {
			return nil, fmt.Errorf("dirfake: %w", err)
		}
	}
	return s, nil
}

// URL is the ldap:// URL of the server.
func (s *Server) URL() string { return "ldap://" + s.addr }

// Close stops the server.
func (s *Server) Close() { _ = s.srv.Stop() }

// Put adds an entry or replaces the one with the same DN.
func (s *Server) Put(e Entry) { s.put(e) }

func (s *Server) put(e Entry) {
	n := &entry{dn: e.DN, attrs: map[string][]string{}, names: map[string]string{}}
	for k, v := range e.Attributes {
		n.attrs[strings.ToLower(k)] = slices.Clone(v)
		n.names[strings.ToLower(k)] = k
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, old := range s.entries {
		if strings.EqualFold(old.dn, e.DN) {
			n.attrs["entryuuid"], n.names["entryuuid"] = old.attrs["entryuuid"], "entryUUID"
			s.entries[i] = n
			return
		}
	}
	if _, ok := n.attrs["entryuuid"]; !ok {
		n.attrs["entryuuid"], n.names["entryuuid"] = []string{uuidOf(e.DN)}, "entryUUID"
	}
	s.entries = append(s.entries, n)
}

// Remove deletes the entry with this DN.
func (s *Server) Remove(dn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = slices.DeleteFunc(s.entries, func(e *entry) bool { return strings.EqualFold(e.dn, dn) })
}

// uuidOf derives a stable version-5-style UUID from a DN.
func uuidOf(dn string) string {
	h := sha1.Sum([]byte(strings.ToLower(dn)))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func (s *Server) bind(w *gldap.ResponseWriter, r *gldap.Request) {
	resp := r.NewBindResponse(gldap.WithResponseCode(gldap.ResultInvalidCredentials))
	defer func() { _ = w.Write(resp) }()
	m, err := r.GetSimpleBindMessage()
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case m.UserName == "" && m.Password == "":
		s.bound[r.ConnectionID()] = false
		resp.SetResultCode(gldap.ResultSuccess)
	case strings.EqualFold(m.UserName, s.opts.BindDN) && string(m.Password) == s.opts.Password:
		s.bound[r.ConnectionID()] = true
		resp.SetResultCode(gldap.ResultSuccess)
	}
}

func (s *Server) search(w *gldap.ResponseWriter, r *gldap.Request) {
	done := r.NewSearchDoneResponse(gldap.WithResponseCode(gldap.ResultSuccess))
	defer func() { _ = w.Write(done) }()
	m, err := r.GetSearchMessage()
	if err != nil {
		done.SetResultCode(gldap.ResultProtocolError)
		return
	}
	if m.BaseDN == "" && m.Scope == gldap.BaseObject {
		root := r.NewSearchResponseEntry("", gldap.WithAttributes(map[string][]string{
			"objectClass": {"top", "OpenLDAProotDSE"}, "supportedControl": {ldap.ControlTypePaging}}))
		_ = w.Write(root)
		return
	}
	s.mu.Lock()
	bound := s.bound[r.ConnectionID()]
	s.mu.Unlock()
	if !bound {
		done.SetResultCode(gldap.ResultNoSuchObject) // like slapd's ACLs for anonymous users
		return
	}
	filter, err := ldap.CompileFilter(m.Filter)
	if err != nil {
		done.SetResultCode(gldap.ResultFilterError)
		return
	}
	var paging *gldap.ControlPaging
	for _, c := range m.Controls {
		if p, ok := c.(*gldap.ControlPaging); ok {
			paging = p
		}
	}
	s.mu.Lock()
	var hits []*entry
	for _, e := range s.entries {
		if inScope(e.dn, m.BaseDN, m.Scope) && match(filter, e) {
			hits = append(hits, e)
		}
	}
	s.mu.Unlock()
	start, end := 0, len(hits)
	if paging != nil {
		size := int(paging.PagingSize)
		if s.opts.PageCap > 0 && size > s.opts.PageCap {
			done.SetResultCode(gldap.ResultAdminLimitExceeded)
			done.SetDiagnosticMessage("illegal pagedResults page size")
			return
		}
		if len(paging.Cookie) > 0 {
			start, _ = strconv.Atoi(string(paging.Cookie))
		}
		end = min(len(hits), start+max(size, 1))
		next := &gldap.ControlPaging{PagingSize: 0}
		if end < len(hits) {
			next.Cookie = []byte(strconv.Itoa(end))
		}
		done.SetControls(next)
	} else if s.opts.PageCap > 0 && len(hits) > s.opts.PageCap {
		end = s.opts.PageCap
		defer done.SetResultCode(gldap.ResultSizeLimitExceeded)
	}
	for _, e := range hits[min(start, len(hits)):end] {
		if err := w.Write(r.NewSearchResponseEntry(e.dn, gldap.WithAttributes(e.selected(m.Attributes)))); err != nil {
			return
		}
	}
}

func (e *entry) selected(want []string) map[string][]string {
	out := map[string][]string{}
	all := len(want) == 0 || slices.Contains(want, "*")
	for k, v := range e.attrs {
		if (all && k != "entryuuid") || slices.ContainsFunc(want, func(w string) bool { return strings.EqualFold(w, k) }) {
			out[e.names[k]] = v
		}
	}
	return out
}

func inScope(dn, base string, scope gldap.Scope) bool {
	dn, base = strings.ToLower(dn), strings.ToLower(base)
	switch scope {
	case gldap.BaseObject:
		return dn == base
	case gldap.SingleLevel:
		_, parent, ok := strings.Cut(dn, ",")
		return ok && parent == base
	default:
		return dn == base || strings.HasSuffix(dn, ","+base)
	}
}

// match evaluates a compiled RFC 4515 filter against an entry, comparing
// values case-insensitively (the matching rules of the attributes
// zoomsync uses: caseIgnoreMatch, caseIgnoreIA5Match, UUIDMatch).
func match(f *ber.Packet, e *entry) bool {
	switch f.Tag {
	case ldap.FilterAnd:
		for _, c := range f.Children {
			if !match(c, e) {
				return false
			}
		}
		return true
	case ldap.FilterOr:
		for _, c := range f.Children {
			if match(c, e) {
				return true
			}
		}
		return false
	case ldap.FilterNot:
		return len(f.Children) == 1 && !match(f.Children[0], e)
	case ldap.FilterPresent:
		_, ok := e.attrs[strings.ToLower(f.Data.String())]
		return ok
	case ldap.FilterEqualityMatch, ldap.FilterApproxMatch, ldap.FilterGreaterOrEqual, ldap.FilterLessOrEqual:
		if len(f.Children) != 2 {
			return false
		}
		want := strings.ToLower(f.Children[1].Data.String())
		for _, v := range e.attrs[strings.ToLower(f.Children[0].Data.String())] {
			v = strings.ToLower(v)
			switch {
			case f.Tag == ldap.FilterGreaterOrEqual && v >= want,
				f.Tag == ldap.FilterLessOrEqual && v <= want,
				(f.Tag == ldap.FilterEqualityMatch || f.Tag == ldap.FilterApproxMatch) && v == want:
				return true
			}
		}
		return false
	case ldap.FilterSubstrings:
		if len(f.Children) != 2 {
			return false
		}
		for _, v := range e.attrs[strings.ToLower(f.Children[0].Data.String())] {
			if substrings(strings.ToLower(v), f.Children[1].Children) {
				return true
			}
		}
		return false
	}
	return false
}

func substrings(v string, parts []*ber.Packet) bool {
	for _, p := range parts {
		s := strings.ToLower(p.Data.String())
		switch p.Tag {
		case ldap.FilterSubstringsInitial:
			if !strings.HasPrefix(v, s) {
				return false
			}
			v = v[len(s):]
		case ldap.FilterSubstringsAny:
			i := strings.Index(v, s)
			if i < 0 {
				return false
			}
			v = v[i+len(s):]
		case ldap.FilterSubstringsFinal:
			if !strings.HasSuffix(v, s) {
				return false
			}
		}
	}
	return true
}
