package zoomapi

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// The fuzz targets below feed Zoom's REST answers (seeds: the answers in
// testdata/answers, shaped as Zoom's documents and the fake answer them,
// plus odd ones) to the decoders the client uses; none may panic, and
// what they accept must be usable downstream.

func addAnswerSeeds(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "answers", "*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"users":[null,null]}`))
	f.Add([]byte(`{"total_records":1e400}`))
	f.Add([]byte(`{"pmi":"9223372036854775808","type":-1}`))
}

// FuzzDecodeUsersPage: a users page decodes into users that all have a
// usable key function, no nil entries.
func FuzzDecodeUsersPage(f *testing.F) {
	addAnswerSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var b usersList
		if json.Unmarshal(body, &b) != nil {
			return
		}
		b.Users = dropNil(b.Users)
		for _, u := range b.Users {
			if u == nil {
				t.Fatal("nil user kept")
			}
			_ = u.Key()
		}
		_ = pageLimit(int(b.TotalRecords), int(b.PageSize))
	})
}

// FuzzDecodeUser: one user decodes or is refused; never a panic.
func FuzzDecodeUser(f *testing.F) {
	addAnswerSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var u User
		if json.Unmarshal(body, &u) != nil {
			return
		}
		if k := u.Key(); k == "" && (u.ID != "" || u.Email != "") {
			t.Fatalf("user %q/%q has no key", u.ID, u.Email)
		}
	})
}

// FuzzDecodePresence: a presence answer decodes or is refused.
func FuzzDecodePresence(f *testing.F) {
	addAnswerSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var p Presence
		_ = json.Unmarshal(body, &p)
	})
}

// FuzzDecodePhoneUsers: a phone users page keeps no nil entry.
func FuzzDecodePhoneUsers(f *testing.F) {
	addAnswerSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var b phoneUsersList
		if json.Unmarshal(body, &b) != nil {
			return
		}
		for _, u := range dropNil(b.Users) {
			_ = u.ID + string(u.ExtensionNumber)
		}
	})
}

// FuzzDecodeTokenAnswer: an accepted token answer has a token and a sane
// lifetime; a refused one has a kind and a printable message.
func FuzzDecodeTokenAnswer(f *testing.F) {
	addAnswerSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, status := range []int{200, 400, 401, 429, 503} {
			ans, e := decodeTokenAnswer(status, "", body)
			switch {
			case (ans == nil) == (e == nil):
				t.Fatalf("status %d: answer %v and error %v", status, ans, e)
			case ans != nil && (ans.AccessToken == "" || ans.ExpiresIn <= 0 || ans.ExpiresIn > maxTokenLifetime):
				t.Fatalf("accepted token %+v", ans)
			case e != nil:
				checkPrintable(t, e.Message)
				if ans == nil && status/100 == 2 && e.Kind.String() == "" {
					t.Fatal("no kind")
				}
			}
			if ans != nil && ans.APIURL != "" {
				checkAPIURL(t, ans.APIURL)
			}
		}
	})
}

// FuzzDecodeErrorBody: any error body gives a printable, short message, and
// only a 404 with code 1001 means "user does not exist".
func FuzzDecodeErrorBody(f *testing.F) {
	addAnswerSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, status := range []int{400, 401, 404, 429, 502} {
			code, msg, zoomBody := decodeErrorBody(status, body)
			checkPrintable(t, msg)
			if zoomBody != (code != 0) {
				t.Fatalf("zoomBody %v with code %d", zoomBody, code)
			}
			_ = classify(status, code)
			e := &Error{HTTPStatus: status, Code: code}
			if IsUserNotFound(e) != (status == 404 && code == CodeUserNotFound) {
				t.Fatalf("IsUserNotFound(%d, %d)", status, code)
			}
		}
	})
}

// FuzzAcceptAPIURL: an accepted api_url is an https zoom.us host or the
// token endpoint's own, with path /v2 and nothing else.
func FuzzAcceptAPIURL(f *testing.F) {
	for _, s := range []string{"https://api.zoom.us", "https://api-eu.zoom.us/v2/", "http://api.zoom.us", "https://zoom.us.evil.example",
		"https://u:p@api.zoom.us", "https://api.zoom.us:8443", "http://127.0.0.1:9999", "https://api.zoom.us/v2?x=1", "//api.zoom.us", "https://ZOOM.US"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) { checkAPIURL(t, raw) })
}

var fuzzTokenURL, _ = url.Parse("http://127.0.0.1:9999/oauth/token")

func checkAPIURL(t *testing.T, raw string) {
	t.Helper()
	u, reason := acceptAPIURL(raw, fuzzTokenURL)
	if u == nil {
		if reason == "" {
			t.Fatalf("%q refused without a reason", raw)
		}
		return
	}
	host := strings.ToLower(u.Hostname())
	zoom := u.Scheme == "https" && (host == "zoom.us" || strings.HasSuffix(host, ".zoom.us"))
	if !zoom && !(u.Scheme == "http" && u.Host == "127.0.0.1:9999") {
		t.Fatalf("%q accepted as %s", raw, u)
	}
	if u.Path != "/v2" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		t.Fatalf("%q accepted as %s", raw, u)
	}
}

func checkPrintable(t *testing.T, s string) {
	t.Helper()
	if len(s) > 200+len("…") {
		t.Fatalf("message of %d bytes", len(s))
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			t.Fatalf("control character in %q", s)
		}
	}
}

func TestPageLimit(t *testing.T) {
	for _, tc := range []struct{ total, size, want int }{
		{0, 300, maxPagesUnknownTotal}, // no total_records: the absolute cap
		{1000, 0, maxPagesUnknownTotal},
		{1, 300, 1 + 0 + 10},
		{1000, 300, 4 + 0 + 10},
		{100_000, 300, 334 + 33 + 10},
		{1 << 40, 1, maxPagesUnknownTotal},
	} {
		if got := pageLimit(tc.total, tc.size); got != tc.want {
			t.Errorf("pageLimit(%d, %d) = %d, want %d", tc.total, tc.size, got, tc.want)
		}
	}
}
