package mapper

import (
	"slices"
	"strings"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/mapping"
	"github.com/zoomsync/zoomsync/mapping/mapstore"
)

// attributes are what a read asks of every entry: the profile's
// (mapstore.Profile) and the rules'.
func attributes(rules []mapping.Rule) []string {
	attrs := mapstore.ProfileAttributes()
	for _, r := range rules {
		if !slices.ContainsFunc(attrs, func(a string) bool { return strings.EqualFold(a, r.Attribute) }) {
			attrs = append(attrs, r.Attribute)
		}
	}
	return attrs
}

// profiler reads the profile fields of a snapshot's entries, with the
// positions of their attributes looked up once.
type profiler struct {
	// pos[i]: the positions of mapstore.Profile[i]'s attributes, in order
	// of preference.
	pos [][]int
}

func newProfiler(s *directory.Snapshot) *profiler {
	p := &profiler{pos: make([][]int, len(mapstore.Profile))}
	for i, f := range mapstore.Profile {
		for _, a := range f.Attributes {
			if j := s.Position(a); j >= 0 {
				p.pos[i] = append(p.pos[i], j)
			}
		}
	}
	return p
}

// field returns profile field i (a position in mapstore.Profile) of an
// entry: the first value of the first of its attributes that has one.
func (p *profiler) field(e *directory.Entry, i int) string {
	for _, j := range p.pos[i] {
		if v := e.Values(j); len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
}
