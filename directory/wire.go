package directory

// A lean LDAP reader for the one hot path: the full paged read of every
// person. go-ldap decodes each response into a tree of ber.Packets (about
// 500 allocations and 28 KB per entry here, measured), which makes a
// 100,000-entry read allocation- and GC-bound at 3–4× ldapsearch no
// matter how many connections share the two cores. This reader speaks
// the same protocol on its own connection — simple bind (after StartTLS
// or over ldaps), then paged searches — and decodes SearchResultEntry
// messages in place from one reused buffer, allocating only the strings
// it keeps. Requests are still built with go-ldap and asn1-ber (filters,
// controls), and every other operation (rootDSE, lookups, Ping) uses
// go-ldap.

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// wireConn is a raw LDAP connection.
type wireConn struct {
	conn    net.Conn
	r       *bufio.Reader
	buf     []byte
	nextID  int64
	timeout time.Duration
}

// dialWire connects, upgrades and binds like connect does.
func (d *Directory) dialWire(ctx context.Context) (*wireConn, error) {
	const op = "directory.connect"
	u, _ := url.Parse(d.cfg.URL)
	host := u.Host
	if u.Port() == "" {
		port := "389"
		if u.Scheme == "ldaps" {
			port = "636"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	dialer := &net.Dialer{Timeout: d.cfg.Timeout}
	c, err := dialer.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, classify(op, ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("connecting to %s: %w", d.cfg.URL, err)))
	}
	w := &wireConn{conn: c, timeout: d.cfg.Timeout}
	if d.tls != nil && !d.cfg.StartTLS {
		if err := w.handshake(ctx, d.tls); err != nil {
			return nil, classify(op, ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("TLS with %s: %w", d.cfg.URL, err)))
		}
	}
	w.r = bufio.NewReaderSize(w.conn, 64<<10)
	if d.cfg.StartTLS {
		req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "Start TLS")
		req.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.3.6.1.4.1.1466.20037", "TLS Extended Command"))
		if err := w.roundTrip(req, ldap.ApplicationExtendedResponse); err != nil {
			w.Close()
			return nil, classify(op, fmt.Errorf("StartTLS with %s: %w", d.cfg.URL, err))
		}
		if err := w.handshake(ctx, d.tls); err != nil {
			return nil, classify(op, ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("StartTLS with %s: %w", d.cfg.URL, err)))
		}
		w.r = bufio.NewReaderSize(w.conn, 64<<10)
	}
	bind := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "Bind Request")
	bind.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "Version"))
	bind.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, d.cfg.BindDN, "User Name"))
	bind.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, d.cfg.BindPassword.Reveal(), "Password"))
	if err := w.roundTrip(bind, ldap.ApplicationBindResponse); err != nil {
		w.Close()
		return nil, classify(op, bindError(d.cfg.BindDN, err))
	}
	return w, nil
}

func (w *wireConn) handshake(ctx context.Context, cfg *tls.Config) error {
	tc := tls.Client(w.conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		w.conn.Close()
		return err
	}
	w.conn = tc
	return nil
}

func (w *wireConn) Close() error { return w.conn.Close() }

// send writes one LDAPMessage with op and optional controls.
func (w *wireConn) send(op *ber.Packet, controls ...ldap.Control) (int64, error) {
	w.nextID++
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, w.nextID, "MessageID"))
	msg.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		for _, c := range controls {
			cs.AppendChild(c.Encode())
		}
		msg.AppendChild(cs)
	}
	_ = w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
	_, err := w.conn.Write(msg.Bytes())
	if err != nil {
		return 0, ldap.NewError(ldap.ErrorNetwork, err)
	}
	return w.nextID, nil
}

// roundTrip sends op and checks the LDAPResult of the answer.
func (w *wireConn) roundTrip(op *ber.Packet, answer int) error {
	id, err := w.send(op)
	if err != nil {
		return err
	}
	m, err := w.read(id)
	if err != nil {
		return err
	}
	if m.tag != answer {
		return ldap.NewError(ldap.LDAPResultProtocolError, fmt.Errorf("unexpected answer tag %d", m.tag))
	}
	return m.result()
}

// message is one decoded LDAPMessage; its slices point into the
// connection's buffer and are valid until the next read.
type message struct {
	tag      int
	op       []byte // contents of protocolOp
	controls []byte // contents of [0] controls, nil when absent
}

// read reads the next LDAPMessage, which must carry id.
func (w *wireConn) read(id int64) (message, error) {
	_ = w.conn.SetReadDeadline(time.Now().Add(w.timeout))
	tag, n, err := readHeader(w.r)
	if err != nil {
		return message{}, ldap.NewError(ldap.ErrorNetwork, err)
	}
	if tag != 0x30 {
		return message{}, ldap.NewError(ldap.LDAPResultProtocolError, fmt.Errorf("message tag 0x%x", tag))
	}
	if n > 64<<20 {
		return message{}, ldap.NewError(ldap.LDAPResultProtocolError, fmt.Errorf("message of %d bytes", n))
	}
	if cap(w.buf) < n {
		w.buf = make([]byte, n)
	}
	b := w.buf[:n]
	if _, err := io.ReadFull(w.r, b); err != nil {
		return message{}, ldap.NewError(ldap.ErrorNetwork, err)
	}
	t, idb, rest, err := tlv(b)
	if err != nil || t != 0x02 {
		return message{}, ldap.NewError(ldap.LDAPResultProtocolError, errors.New("malformed message id"))
	}
	if got := parseInt(idb); got != id {
		return message{}, ldap.NewError(ldap.LDAPResultProtocolError, fmt.Errorf("answer to message %d, want %d", got, id))
	}
	t, op, rest, err := tlv(rest)
	if err != nil || t&0xc0 != 0x40 {
		return message{}, ldap.NewError(ldap.LDAPResultProtocolError, errors.New("malformed protocol op"))
	}
	m := message{tag: int(t & 0x1f), op: op}
	if len(rest) > 0 {
		if t, c, _, err := tlv(rest); err == nil && t == 0xa0 {
			m.controls = c
		}
	}
	return m, nil
}

// result decodes an LDAPResult and returns nil for success.
func (m message) result() error {
	_, code, rest, err := tlv(m.op)
	if err != nil {
		return ldap.NewError(ldap.LDAPResultProtocolError, err)
	}
	_, _, rest, _ = tlv(rest) // matchedDN
	_, diag, _, _ := tlv(rest)
	if c := parseInt(code); c != 0 {
		return ldap.NewError(uint16(c), errors.New(string(diag)))
	}
	return nil
}

// readHeader reads a tag and a definite length.
func readHeader(r *bufio.Reader) (byte, int, error) {
	tag, err := r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	l, err := r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	if l < 0x80 {
		return tag, int(l), nil
	}
	k := int(l & 0x7f)
	if k == 0 || k > 4 {
		return 0, 0, fmt.Errorf("unsupported length form 0x%x", l)
	}
	n := 0
	for i := 0; i < k; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, 0, err
		}
		n = n<<8 | int(b)
	}
	return tag, n, nil
}

// tlv splits the first element off b: its tag, its contents and the rest.
func tlv(b []byte) (byte, []byte, []byte, error) {
	if len(b) < 2 {
		return 0, nil, nil, errors.New("short element")
	}
	tag, l := b[0], int(b[1])
	b = b[2:]
	if l >= 0x80 {
		k := l & 0x7f
		if k == 0 || k > 4 || len(b) < k {
			return 0, nil, nil, errors.New("bad length")
		}
		l = 0
		for _, c := range b[:k] {
			l = l<<8 | int(c)
		}
		b = b[k:]
	}
	if l > len(b) {
		return 0, nil, nil, errors.New("element longer than its message")
	}
	return tag, b[:l], b[l:], nil
}

func parseInt(b []byte) int64 {
	var n int64
	for i, c := range b {
		if i == 0 && c&0x80 != 0 {
			n = -1
		}
		n = n<<8 | int64(c)
	}
	return n
}

// searchWire runs one paged search to its end on a raw connection. It
// returns the people and the search continuation references it skipped.
func (d *Directory) searchWire(ctx context.Context, w *wireConn, filter string, conv *converter) ([]Entry, []string, error) {
	const op = "directory.Read"
	compiled, err := ldap.CompileFilter(filter)
	if err != nil {
		return nil, nil, classify(op, ldap.NewError(ldap.LDAPResultFilterError, err))
	}
	pageSize := d.cfg.PageSize
	var cookie []byte
	var out []Entry
	var refs []string
	attrs := conv.request()
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchRequest, nil, "Search Request")
		req.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, d.cfg.BaseDN, "Base DN"))
		req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(ldap.ScopeWholeSubtree), "Scope"))
		req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(ldap.NeverDerefAliases), "Deref"))
		req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(0), "Size Limit"))
		req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(d.cfg.Timeout.Seconds()), "Time Limit"))
		req.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, "Types Only"))
		req.AppendChild(compiled)
		ap := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Attributes")
		for _, a := range attrs {
			ap.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a, "Attribute"))
		}
		req.AppendChild(ap)
		paging := ldap.NewControlPaging(uint32(pageSize))
		paging.SetCookie(cookie)
		id, err := w.send(req, paging)
		if err != nil {
			return nil, nil, classify(op, err)
		}
		page := 0
		for {
			m, err := w.read(id)
			if err != nil {
				return nil, nil, classify(op, fmt.Errorf("search %s under %s after %d entries: %w", filter, d.cfg.BaseDN, len(out), err))
			}
			if m.tag == ldap.ApplicationSearchResultEntry {
				e, err := conv.decode(m.op)
				if err != nil {
					return nil, nil, classify(op, ldap.NewError(ldap.LDAPResultProtocolError, err))
				}
				out = append(out, e)
				page++
				continue
			}
			if m.tag == ldap.ApplicationSearchResultReference {
				// A search continuation reference (RFC 4511 4.5.3): part of
				// the tree under the base is held apart. Active Directory
				// sends them for its other partitions at the domain root.
				// Not followed; the read goes on (logReferences).
				u, err := referenceURIs(m.op)
				if err != nil {
					return nil, nil, classify(op, ldap.NewError(ldap.LDAPResultProtocolError, err))
				}
				refs = append(refs, u...)
				continue
			}
			if m.tag != ldap.ApplicationSearchResultDone {
				return nil, nil, classify(op, ldap.NewError(ldap.LDAPResultProtocolError, fmt.Errorf("unexpected answer tag %d", m.tag)))
			}
			if err := m.result(); err != nil {
				if ldap.IsErrorWithCode(err, ldap.LDAPResultAdminLimitExceeded) && pageSize > adPageCap && len(out) == 0 {
					d.opts.Logger.Warn("directory: page size refused by the server; using 1000", "LDAP_PAGE_SIZE", pageSize)
					pageSize = adPageCap
					break
				}
				if ldap.IsErrorWithCode(err, ldap.LDAPResultReferral) {
					return nil, nil, d.referralError(m.referrals())
				}
				if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
					// Samba answers so for a base outside its domain (Windows
					// DCs refer, above).
					return nil, nil, errs.E(op, errs.NotFound, fmt.Errorf("LDAP_BASE_DN %q does not exist on %s (or the service account cannot see it): %w",
						d.cfg.BaseDN, d.cfg.URL, err))
				}
				if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
					return nil, nil, errs.Errorf(op, errs.Permanent, "size limit exceeded after %d entries: the server ignores paging for this account", len(out))
				}
				return nil, nil, classify(op, fmt.Errorf("search %s under %s: %w", filter, d.cfg.BaseDN, err))
			}
			cookie, err = pagingCookie(m.controls)
			if err != nil {
				return nil, nil, classify(op, ldap.NewError(ldap.LDAPResultProtocolError, err))
			}
			if d.afterPage != nil {
				d.afterPage(page)
			}
			if len(cookie) == 0 {
				return out, refs, nil
			}
			break
		}
	}
}

// referenceURIs decodes a SearchResultReference: a sequence of URIs.
func referenceURIs(op []byte) ([]string, error) {
	var out []string
	for len(op) > 0 {
		tag, v, rest, err := tlv(op)
		if err != nil {
			return nil, err
		}
		if tag != 0x04 {
			return nil, fmt.Errorf("search reference element tag 0x%x", tag)
		}
		out = append(out, string(v))
		op = rest
	}
	return out, nil
}

// referrals returns the referral URIs of an LDAPResult ([3] after the
// diagnostic message), if any.
func (m message) referrals() []string {
	_, _, rest, err := tlv(m.op) // resultCode
	if err != nil {
		return nil
	}
	if _, _, rest, err = tlv(rest); err != nil { // matchedDN
		return nil
	}
	if _, _, rest, err = tlv(rest); err != nil { // diagnosticMessage
		return nil
	}
	tag, v, _, err := tlv(rest)
	if err != nil || tag != 0xa3 {
		return nil
	}
	uris, _ := referenceURIs(v)
	return uris
}

// referralError: the server does not hold LDAP_BASE_DN and referred the
// whole search elsewhere (result code 10), unlike a continuation reference
// to a part of the tree, which is skipped.
func (d *Directory) referralError(uris []string) error {
	to := "another server"
	if len(uris) > 0 {
		to = strings.Join(uris, ", ")
	}
	return errs.Errorf("directory.Read", errs.Permanent,
		"%s does not hold LDAP_BASE_DN %q and referred to %s: set LDAP_URL to a server that holds it (or a Global Catalog, port 3268/3269, for several domains)",
		d.cfg.URL, d.cfg.BaseDN, to)
}

// pagingCookie finds the paged-results control among a message's controls.
func pagingCookie(controls []byte) ([]byte, error) {
	for len(controls) > 0 {
		_, c, rest, err := tlv(controls)
		if err != nil {
			return nil, err
		}
		controls = rest
		_, oid, c, err := tlv(c)
		if err != nil {
			return nil, err
		}
		if string(oid) != ldap.ControlTypePaging {
			continue
		}
		for len(c) > 0 {
			var t byte
			var v []byte
			if t, v, c, err = tlv(c); err != nil {
				return nil, err
			}
			if t != 0x04 { // criticality
				continue
			}
			_, seq, _, err := tlv(v)
			if err != nil {
				return nil, err
			}
			_, _, seq, err = tlv(seq) // size
			if err != nil {
				return nil, err
			}
			_, cookie, _, err := tlv(seq)
			return append([]byte(nil), cookie...), err
		}
	}
	return nil, nil
}

// decode turns a SearchResultEntry's contents into an Entry. All kept
// values of the entry share one allocation. Whatever the server sends
// (any number or size of values, binary values, an empty DN, invalid
// UTF-8), decode returns an entry or an error, never a panic.
func (c *converter) decode(op []byte) (Entry, error) {
	_, dn, rest, err := tlv(op)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{DN: string(dn)}
	_, attrs, _, err := tlv(rest)
	if err != nil {
		return Entry{}, err
	}
	type span struct {
		attr       int
		start, end int
	}
	var (
		lower [64]byte
		spans [32]span
		kept  = spans[:0]
		buf   []byte
	)
	for len(attrs) > 0 {
		var pa []byte
		if _, pa, attrs, err = tlv(attrs); err != nil {
			return Entry{}, err
		}
		_, name, vals, err := tlv(pa)
		if err != nil {
			return Entry{}, err
		}
		_, vals, _, err = tlv(vals)
		if err != nil {
			return Entry{}, err
		}
		var key []byte
		if len(name) <= len(lower) {
			key = lower[:len(name)]
		} else {
			key = make([]byte, len(name))
		}
		for i, ch := range name {
			if 'A' <= ch && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			key[i] = ch
		}
		pos, wanted := c.pos[string(key)]
		for len(vals) > 0 {
			var v []byte
			if _, v, vals, err = tlv(vals); err != nil {
				return Entry{}, err
			}
			switch string(key) {
			case "objectguid":
				if c.flavor == ActiveDirectory && e.ID == "" {
					e.ID = guidString(v)
				}
				continue
			case "entryuuid":
				if c.flavor != ActiveDirectory && e.ID == "" {
					e.ID = string(lowerASCII(v))
				}
				continue
			case "useraccountcontrol":
				if c.flavor == ActiveDirectory {
					uac, _ := strconv.ParseInt(string(v), 10, 64)
					e.Disabled = e.Disabled || uac&2 != 0
				}
				continue
			case "accountexpires":
				if c.flavor == ActiveDirectory && c.expired(string(v)) {
					e.Disabled = true
				}
				continue
			}
			if wanted {
				kept = append(kept, span{pos, len(buf), len(buf) + len(v)})
				buf = append(buf, v...)
			}
		}
	}
	if e.ID == "" {
		e.ID = "dn:" + string(lowerASCII([]byte(e.DN)))
	}
	all := string(buf)
	// Attributes arrive in the server's order; values go in the snapshot's
	// (a stable sort keeps each attribute's values in the server's order).
	slices.SortStableFunc(kept, func(a, b span) int { return cmp.Compare(a.attr, b.attr) })
	e.vals = make([]string, len(kept))
	e.ends = make([]uint32, len(c.attrs))
	k := 0
	for a := range c.attrs {
		for k < len(kept) && kept[k].attr == a {
			e.vals[k] = all[kept[k].start:kept[k].end]
			k++
		}
		e.ends[a] = uint32(k)
	}
	return e, nil
}

func lowerASCII(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}
