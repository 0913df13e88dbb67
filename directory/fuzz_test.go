package directory

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// deadlineConn is the connection under a wireConn fed from memory: only
// deadlines are set on it.
type deadlineConn struct{ net.Conn }

func (deadlineConn) SetReadDeadline(time.Time) error  { return nil }
func (deadlineConn) SetWriteDeadline(time.Time) error { return nil }

// message1 wraps a protocol op (and controls) in LDAPMessage 1.
func message1(op *ber.Packet, controls ...ldap.Control) []byte {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "message")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 1, "id"))
	msg.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "controls")
		for _, c := range controls {
			cs.AppendChild(c.Encode())
		}
		msg.AppendChild(cs)
	}
	return msg.Bytes()
}

// FuzzDecodeEntry feeds arbitrary bytes to the LDAP reader of the full
// read, as a stream of messages from the server (entries, references,
// the final result with its paging control) and as one entry's contents.
// Whatever a directory or a broken server sends, the reader returns
// entries or errors: it never panics, and an entry it returns holds every
// value it counted, through a JSON round trip too (the snapshot in Redis).
func FuzzDecodeEntry(f *testing.F) {
	entry := func(dn string, attrs ...attr) *ber.Packet {
		p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "entry")
		p.Data.Write(entryOp(dn, attrs...))
		return p
	}
	guid := string([]byte{0x26, 0xf7, 0x0d, 0xf5, 0xfa, 0xb3, 0xdd, 0x40, 0x9e, 0xeb, 0xd1, 0x6b, 0x23, 0x01, 0x20, 0x8d})
	ad := entry(`CN=Smith\, Jane,OU=Staff,DC=example,DC=test`, attr{"objectGUID", []string{guid}}, attr{"userAccountControl", []string{"66050"}},
		attr{"accountExpires", []string{"132000000000000000"}}, attr{"mail", []string{"jane@example.test"}},
		attr{"proxyAddresses", []string{"SMTP:jane@example.test", "smtp:js@example.test", "sip:jane@example.test"}}, attr{"sAMAccountName", []string{"jsmith"}})
	f.Add(message1(ad))
	f.Add(entryOp("uid=a,ou=people,dc=example,dc=com", attr{"entryUUID", []string{"6f000fa0-825a-1041-9592-db7da36b1971"}}, attr{"uid", []string{"a"}}, attr{"mail", numbered("m", 300)}))
	f.Add(message1(entry("", attr{"MAIL", []string{"\xff\xfe"}})))
	ref := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultReference, nil, "ref")
	ref.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "ldap://example.test/CN=Configuration,DC=example,DC=test", "uri"))
	done := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultDone, nil, "done")
	done.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(0), "code"))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matched"))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "diag"))
	paging := ldap.NewControlPaging(1000)
	paging.SetCookie([]byte("cookie"))
	f.Add(append(append(message1(ad), message1(ref)...), message1(done, paging)...))

	attrs := []string{"uid", "mail", "proxyAddresses", "sAMAccountName", "displayName"}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, flavor := range []Flavor{ActiveDirectory, OpenLDAP} {
			conv := newConverter(flavor, attrs, time.Unix(1_800_000_000, 0))
			if e, err := conv.decode(data); err == nil {
				checkEntry(t, &e, len(attrs))
			}
			w := &wireConn{conn: deadlineConn{}, r: bufio.NewReader(bytes.NewReader(data)), timeout: time.Second}
			for range 16 {
				m, err := w.read(1)
				if err != nil {
					break
				}
				switch m.tag {
				case ldap.ApplicationSearchResultEntry:
					if e, err := conv.decode(m.op); err == nil {
						checkEntry(t, &e, len(attrs))
					}
				case ldap.ApplicationSearchResultReference:
					_, _ = referenceURIs(m.op)
				default:
					_ = m.result()
					_ = m.referrals()
					_, _ = pagingCookie(m.controls)
				}
			}
		}
	})
}

// checkEntry: every attribute's values can be read, they add up to what
// the entry holds, and a JSON round trip keeps their number.
func checkEntry(t *testing.T, e *Entry, attrs int) {
	t.Helper()
	n := 0
	for i := range attrs {
		n += len(e.Values(i))
	}
	if n != len(e.vals) {
		t.Fatalf("attributes hold %d values, the entry %d", n, len(e.vals))
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back Entry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for i := range attrs {
		if len(back.Values(i)) != len(e.Values(i)) {
			t.Fatalf("attribute %d: %d values after JSON, %d before", i, len(back.Values(i)), len(e.Values(i)))
		}
	}
}
