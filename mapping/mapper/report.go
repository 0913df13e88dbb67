package mapper

import (
	"encoding/json"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/mapping"
	"github.com/zoomsync/zoomsync/mapping/mapstore"
)

// reportItems renders the result's lists as the report's JSON items
// (mapstore.ReportCategories; every category present, nil when empty).
func reportItems(snap *directory.Snapshot, res *mapping.Result) map[string][]json.RawMessage {
	out := map[string][]json.RawMessage{}
	profiles := newProfiler(snap)
	add := func(cat string, v any) {
		b, _ := json.Marshal(v)
		out[cat] = append(out[cat], b)
	}
	for _, c := range mapstore.ReportCategories {
		out[c] = nil
	}
	for _, u := range res.UnmatchedUsers {
		add("unmatched_users", u)
	}
	for _, i := range res.UnmatchedEntries {
		out["unmatched_entries"] = append(out["unmatched_entries"], entryItem(nil, &snap.Entries[i], profiles))
	}
	for _, c := range res.Conflicts {
		add("conflicts", c)
	}
	for _, l := range res.DisabledActive {
		out["disabled_active"] = append(out["disabled_active"], entryItem(&l.User, &snap.Entries[l.Entry], profiles))
	}
	return out
}

// entryItem is a report item about an entry: {"user": …, when one is
// given, "dn": …, then the profile fields in mapstore.Profile's order},
// byte for byte what encoding/json makes of the equivalent struct (the
// stored report's digests compare across versions).
func entryItem(user *mapping.Ref, e *directory.Entry, p *profiler) json.RawMessage {
	b := []byte{'{'}
	if user != nil {
		u, _ := json.Marshal(user)
		b = append(append(b, `"user":`...), u...)
		b = append(b, ',')
	}
	b = appendField(append(b, `"dn":`...), e.DN)
	for i, f := range mapstore.Profile {
		v := p.field(e, i)
		if f.Omit && v == "" {
			continue
		}
		b = appendField(append(append(append(b, `,"`...), f.Name...), `":`...), v)
	}
	return append(b, '}')
}

// appendField appends v as a JSON string, escaped as encoding/json does.
func appendField(b []byte, v string) []byte {
	s, _ := json.Marshal(v)
	return append(b, s...)
}
