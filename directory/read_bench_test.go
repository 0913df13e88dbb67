package directory

import (
	"context"
	"testing"

	"github.com/zoomsync/zoomsync/internal/testserver"
)

var benchAttrs = []string{"uid", "sAMAccountName", "employeeNumber", "employeeID", "displayName", "cn",
	"mail", "departmentNumber", "department", "title", "telephoneNumber"}

// BenchmarkRead100k reads 100,000 people from slapd (the read alone; the
// mapping benchmark in internal/app has the end-to-end figure and the
// ldapsearch reference), with one search and split at the points a first
// read gives (as every read after the first is).
func BenchmarkRead100k(b *testing.B) {
	s := testserver.StartSlapd(b, testserver.SlapdOptions{Users: 100_000})
	for _, conns := range []int{1, 2, 4} {
		b.Run(map[int]string{1: "1conn", 2: "2conns", 4: "4conns"}[conns], func(b *testing.B) {
			cfg := serviceConfig(s.URL)
			cfg.PageSize = 1000
			d, err := New(cfg, Options{Connections: conns})
			if err != nil {
				b.Fatal(err)
			}
			first, err := d.Read(context.Background(), benchAttrs, nil)
			if err != nil {
				b.Fatal(err)
			}
			splits := d.SplitPoints(first)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				snap, err := d.Read(context.Background(), benchAttrs, splits)
				if err != nil || len(snap.Entries) != 100_000 {
					b.Fatal(err)
				}
			}
		})
	}
}
