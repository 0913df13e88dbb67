package zoomfake

import (
	"encoding/base64"
	"net/http"
	"strings"
)

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /oauth/token", s.handleToken)
	s.apiRoute("GET /users", FamilyUsers, Medium, s.handleListUsers)
	s.apiRoute("GET /users/{userId}", FamilyUsers, Light, s.handleGetUser)
	s.apiRoute("GET /users/{userId}/presence_status", FamilyUsers, Medium, s.handleGetPresence)
	s.apiRoute("GET /phone/users", FamilyPhone, Medium, s.handleListPhoneUsers)
	s.apiRoute("GET /phone/users/{userId}", FamilyPhone, Light, s.handleGetPhoneUser)
	s.apiRoute("GET /contact_center/users", FamilyCC, Medium, s.handleListAgents)
	s.apiRoute("GET /contact_center/users/{userId}", FamilyCC, Light, s.handleGetAgent)
	s.apiRoute("PATCH /contact_center/users/{userId}/status", FamilyCC, Light, s.handlePatchAgentStatus)
	s.apiRoute("GET /contact_center/system_statuses", FamilyCC, Light, s.handleSystemStatuses)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, 2300, "This API endpoint is not recognized.")
	})
}

// handleToken implements Server-to-Server OAuth's account_credentials grant.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil { // merges the query string and a form body
		tokenError(w, http.StatusBadRequest, "invalid_request", "Invalid request")
		return
	}
	s.mu.Lock()
	failing := s.faults.FailTokens > 0
	if failing {
		s.faults.FailTokens--
	}
	s.mu.Unlock()
	if failing {
		writeError(w, http.StatusServiceUnavailable, 503, "Service unavailable")
		return
	}
	gt := r.Form.Get("grant_type")
	if gt != "account_credentials" && gt != "client_credentials" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "unsupported grant type")
		return
	}
	clientID, clientSecret, ok := basicAuth(r.Header.Get("Authorization"))
	if !ok {
		tokenError(w, http.StatusBadRequest, "invalid_client", "Invalid client_id or client_secret")
		return
	}
	accountID := r.Form.Get("account_id")
	s.mu.Lock()
	if gt == "client_credentials" {
		// The app's own token (what Zoom's WebSocket documentation
		// shows): the account is the one whose app the client id is.
		for id, acct := range s.accounts {
			if acct.spec.ClientID == clientID {
				accountID = id
			}
		}
	}
	a := s.accounts[accountID]
	s.mu.Unlock()
	switch {
	case accountID == "":
		tokenError(w, http.StatusBadRequest, "invalid_request", "account_id is required")
		return
	case a == nil:
		tokenError(w, http.StatusBadRequest, "invalid_request", "Invalid account_id")
		return
	case clientID != a.spec.ClientID || clientSecret != a.spec.ClientSecret:
		tokenError(w, http.StatusBadRequest, "invalid_client", "Invalid client_id or client_secret")
		return
	}
	tok := "fake." + randomHex(24)
	s.mu.Lock()
	s.tokens[tok] = issuedToken{account: accountID, expiry: s.clock.Now().Add(s.opts.TokenTTL), grant: gt}
	s.stats.TokenFetches[accountID]++
	s.mu.Unlock()
	ans := map[string]any{
		"access_token": tok,
		"token_type":   "bearer",
		"expires_in":   int(s.opts.TokenTTL.Seconds()) - 1,
		"scope":        "user:read:admin phone:read:admin contact_center_user:read:admin contact_center_user:write:admin",
		"api_url":      s.url,
	}
	switch s.opts.APIURL {
	case "":
	case "-":
		delete(ans, "api_url")
	default:
		ans["api_url"] = s.opts.APIURL
	}
	s.writeOK(w, ans)
}

// basicAuth decodes "Basic base64std(id:secret)".
func basicAuth(h string) (id, secret string, ok bool) {
	enc, found := strings.CutPrefix(h, "Basic ")
	if !found {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}

func tokenError(w http.ResponseWriter, status int, code, reason string) {
	writeJSON(w, status, map[string]string{"reason": reason, "error": code})
}
