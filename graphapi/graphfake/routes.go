package graphfake

import (
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// call answers one Graph call (top-level or inside a $batch) for an
// authenticated token; rel is the path under /v1.0, already unescaped.
func (s *Server) call(tok *issuedToken, method, rel string, q url.Values, contentType string, body []byte) (*answer, []PresenceEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := strings.Split(strings.Trim(rel, "/"), "/")
	notFound := graphErr(http.StatusNotFound, "Request_ResourceNotFound", "Resource not found for the segment '"+rel+"'.")
	notAllowed := graphErr(http.StatusMethodNotAllowed, "Request_BadRequest", "The HTTP method is not allowed for the resource.")
	// The alias /communications/presences/{id}/… is /users/{id}/presence/….
	if len(seg) >= 3 && seg[0] == "communications" && seg[1] == "presences" {
		seg = append([]string{"users", seg[2], "presence"}, seg[3:]...)
	}
	// /users('$x@y.com') addresses a key Graph would read as an option.
	if len(seg) >= 1 && strings.HasPrefix(seg[0], "users('") && strings.HasSuffix(seg[0], "')") {
		key := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(seg[0], "users('"), "')"), "''", "'")
		seg = append([]string{"users", key}, seg[1:]...)
	}
	switch {
	case len(seg) >= 1 && seg[0] == "users" && len(seg) <= 2:
		if method != http.MethodGet {
			return notAllowed, nil
		}
		if a := s.admit(tok, classUsers, userCost(q)); a != nil {
			return a, nil
		}
		key := ""
		if len(seg) == 2 {
			key = seg[1]
		}
		return s.users(tok, key, q), nil
	case len(seg) == 3 && seg[0] == "users" && seg[2] == "presence":
		if method != http.MethodGet {
			return notAllowed, nil
		}
		if a := s.admit(tok, classPresence, 1); a != nil {
			return a, nil
		}
		return s.readPresence(tok, seg[1]), nil
	case len(seg) == 4 && seg[0] == "users" && seg[2] == "presence":
		if method != http.MethodPost {
			return notAllowed, nil
		}
		if a := s.admit(tok, classPresence, 1); a != nil {
			return a, nil
		}
		if len(body) > 0 {
			if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
				return graphErr(http.StatusUnsupportedMediaType, "UnsupportedMediaType", "Content-Type must be application/json."), nil
			}
		}
		return s.presenceAction(tok, seg[1], seg[3], body)
	}
	return notFound, nil
}
