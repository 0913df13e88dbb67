package zoomapi

import (
	"log/slog"
	"net/url"
	"strings"
)

// Which host the REST calls go to, in this order:
//
//  1. the base URL given with WithBaseURL (the account's api_base_url, or
//     ZOOM_API_BASE_URL when it is set): used as given, always;
//  2. else the api_url that Zoom returns with every access token (the
//     region serving the account, e.g. https://api-eu.zoom.us), with
//     "/v2" appended, once a token names one this client accepts;
//  3. else DefaultBaseURL.
//
// The access token goes to whatever host the client calls, so an api_url is
// accepted only when it is an https URL on zoom.us or one of its
// subdomains (api-eu.zoom.us, a vanity host), or on the very scheme and
// host of the token endpoint the operator configured (a test double), with
// no user, query or fragment and a path that is empty or "/v2". Anything
// else is ignored, with one warning per distinct value, and the client
// stays on the host it has. A change of host is logged once.

// adoptAPIURL is called with the api_url of every fetched token.
func (c *Client) adoptAPIURL(raw string) {
	if c.explicit || raw == "" {
		return
	}
	u, reason := acceptAPIURL(raw, c.tokenURL)
	c.hostMu.Lock()
	defer c.hostMu.Unlock()
	if u == nil {
		if raw != c.rejectedHost {
			c.rejectedHost = raw
			c.logger.Warn("ignoring the api_url Zoom returned with the token; calls stay on the current host",
				slog.String("api_url", redacted(raw)), slog.String("reason", reason),
				slog.String("api_host", c.baseURL.Load().Host))
		}
		return
	}
	if cur := c.baseURL.Load(); cur.String() != u.String() {
		c.baseURL.Store(u)
		c.logger.Info("Zoom API host set from the token's api_url", slog.String("api_host", u.Host),
			slog.String("previous_host", cur.Host))
	}
}

// acceptAPIURL returns the REST base for an api_url, or nil and why not.
func acceptAPIURL(raw string, tokenURL *url.URL) (*url.URL, string) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil || u.Host == "" || !u.IsAbs():
		return nil, "not an absolute URL"
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, "carries a user, query or fragment"
	}
	host := strings.ToLower(u.Hostname())
	zoomHost := u.Scheme == "https" && (host == "zoom.us" || strings.HasSuffix(host, ".zoom.us")) &&
		(u.Port() == "" || u.Port() == "443")
	sameAsToken := tokenURL != nil && strings.EqualFold(u.Scheme, tokenURL.Scheme) && strings.EqualFold(u.Host, tokenURL.Host)
	if !zoomHost && !sameAsToken {
		return nil, "neither an https zoom.us host nor the token endpoint's host"
	}
	switch strings.TrimSuffix(u.Path, "/") {
	case "":
		u.Path = "/v2"
	case "/v2":
		u.Path = "/v2"
	default:
		return nil, "has a path other than /v2"
	}
	u.RawPath = ""
	return &url.URL{Scheme: strings.ToLower(u.Scheme), Host: u.Host, Path: u.Path}, ""
}

// redacted is raw for a log line, without a password it may carry.
func redacted(raw string) string {
	if u, err := url.Parse(strings.TrimSpace(raw)); err == nil {
		return printable(u.Redacted())
	}
	return printable(raw)
}

// printable shortens and cleans a value from outside for a log line.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s), "?")
}
