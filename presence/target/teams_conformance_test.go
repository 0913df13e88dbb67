package target_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/graphapi/graphfake"
	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/presence"
	"github.com/zoomsync/zoomsync/presence/target"
	"github.com/zoomsync/zoomsync/presence/target/targettest"
)

// TestTeamsConformance runs the target conformance suite against the
// fake Microsoft Graph, with the teams type built from a targets-file
// entry through the registry (its default status map).
func TestTeamsConformance(t *testing.T) {
	targettest.Run(t, targettest.Case{Type: target.TypeTeams, Build: newTeamsUnderTest})
}

// teamsFar is the fake Graph tenant: what the app's session shows.
type teamsFar struct {
	graph  *graphfake.Server
	tenant *graphfake.Tenant
	clock  *clockwork.FakeClock
	ids    map[string]string // Zoom user id → Entra object id
}

func (f *teamsFar) Holds(user string) string {
	s, ok := f.tenant.AppSession(f.ids[user], "22553876-f5ab-4529-bffb-cfe50aa89f87")
	if !ok {
		return ""
	}
	return s.Availability + "/" + s.Activity
}

func (f *teamsFar) SetDown(down bool) {
	f.graph.SetFaults(graphfake.Faults{GraphDown: down})
	if !down {
		f.clock.Advance(10 * time.Second) // past the hold an outage puts on presence calls
	}
}

func newTeamsUnderTest(t *testing.T) (target.Driver, targettest.FarEnd, target.Push) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	g, err := graphfake.Start(graphfake.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	const app = "22553876-f5ab-4529-bffb-cfe50aa89f87"
	tenant := g.AddTenant("contoso.onmicrosoft.com")
	tenant.AddApp(graphfake.AppSpec{ClientID: app, Secret: "s", Roles: []string{graphfake.PresenceReadWriteAll, graphfake.UserReadAll}})
	p := testserver.ADPersonAt(1)
	tenant.AddUser(graphfake.UserSpec{ID: "0b1ec701-0000-4000-8000-000000000001", UserPrincipalName: p.Mail, Mail: p.Mail, ImmutableID: p.ImmutableID()})
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := target.ParseConfig(json.RawMessage(fmt.Sprintf(`{"name":"teams","type":"teams","tenant_id":"contoso.onmicrosoft.com","client_id":%q,"client_secret_file":%q,"graph_url":%q,"login_url":%q}`,
		app, secretFile, g.GraphURL(), g.LoginURL())))
	if err != nil {
		t.Fatal(err)
	}
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	d, err := target.Build(c, target.Deps{Redis: rdb, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	push := target.Push{Target: "teams", AccountID: "A", ZoomUserID: "zoom1", Email: p.Mail,
		Directory: &target.Directory{ID: p.GUID, DN: p.DN}, Status: presence.OnCall, TargetStatus: c.StatusMap["on_call"], Since: clock.Now(), Seq: 1}
	return d, &teamsFar{graph: g, tenant: tenant, clock: clock, ids: map[string]string{"zoom1": "0b1ec701-0000-4000-8000-000000000001"}}, push
}
