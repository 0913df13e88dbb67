package contract

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheckerFindsDeviations(t *testing.T) {
	get := func(target string) *http.Request { return httptest.NewRequest(http.MethodGet, target, nil) }
	user := `{"id":"z8yAAAAA8bbbQ","email":"a@example.com","type":1,"status":"active","group_ids":[]}`
	cases := []struct {
		name    string
		check   func(c *Checker)
		deviant string // "" when it conforms
	}{
		{"conforming request", func(c *Checker) { c.CheckRequest(get("http://x/v2/users?status=inactive&page_size=300")) }, ""},
		{"query value outside the enum", func(c *Checker) { c.CheckRequest(get("http://x/v2/users?status=bogus")) }, "parameter status (query)"},
		{"page_size over the maximum", func(c *Checker) { c.CheckRequest(get("http://x/v2/phone/users?page_size=101")) }, "parameter page_size (query)"},
		{"undocumented operation", func(c *Checker) { c.CheckRequest(get("http://x/v2/users/abc/nothing_here")) }, "no documented operation"},
		{"contact center body without status_id", func(c *Checker) {
			r := httptest.NewRequest(http.MethodPatch, "http://x/v2/contact_center/users/u1/status", strings.NewReader(`{"sub_status_id":"20"}`))
			r.Header.Set("Content-Type", "application/json")
			c.CheckRequest(r)
		}, "status_id"},
		{"token request", func(c *Checker) {
			r := httptest.NewRequest(http.MethodPost, "http://x/oauth/token", strings.NewReader("grant_type=account_credentials&account_id=A"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			c.CheckRequest(r)
		}, ""},
		{"conforming user", func(c *Checker) { c.CheckResponse(get("http://x/v2/users/u1"), 200, jsonHeader(), []byte(user)) }, ""},
		{"user page of the wrong type", func(c *Checker) {
			c.CheckResponse(get("http://x/v2/users"), 200, jsonHeader(), []byte(`{"users":"none","total_records":"x"}`))
		}, "/users"},
		{"presence outside the enum", func(c *Checker) {
			c.CheckResponse(get("http://x/v2/users/u1/presence_status"), 200, jsonHeader(), []byte(`{"status":"Sleeping"}`))
		}, "/status"},
		{"event missing a required field", func(c *Checker) {
			c.Event("user.presence_status_updated", []byte(`{"event":"user.presence_status_updated","event_ts":1,"payload":{"account_id":"A","object":{"id":"u1","email":"a@example.com","date_time":"2024-01-01T00:00:00Z"}}}`))
		}, "presence_status"},
		{"undocumented event", func(c *Checker) { c.Event("user.teleported", []byte(`{}`)) }, "no documented schema"},
		{"phone event: allow-listed", func(c *Checker) { c.Event("phone.callee_ringing", []byte(`{}`)) }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New()
			if err != nil {
				t.Fatal(err)
			}
			tc.check(c)
			devs := c.Deviations()
			switch {
			case tc.deviant == "" && len(devs) > 0:
				t.Fatalf("deviations: %q", devs)
			case tc.deviant != "" && (len(devs) == 0 || !strings.Contains(strings.Join(devs, "\n"), tc.deviant)):
				t.Fatalf("want a deviation about %q, got %q", tc.deviant, devs)
			}
		})
	}
}

func jsonHeader() http.Header { return http.Header{"Content-Type": {"application/json"}} }

func TestAllowListEntriesExplainThemselves(t *testing.T) {
	al, err := loadAllowList()
	if err != nil {
		t.Fatal(err)
	}
	if len(al.Entries) > 10 {
		t.Errorf("%d allow-list entries: the list is meant to stay short", len(al.Entries))
	}
	for _, e := range al.Entries {
		if len(e.Reason) < 40 || len(e.Evidence) < 20 {
			t.Errorf("%s: reason and evidence must say why and where from", e.ID)
		}
	}
}
