package zoomapi

import (
	"context"
	"net/url"
	"time"
)

// SocketToken is an access token handed to Zoom's WebSocket endpoint
// (which takes it in the query string), with its expiry by the client's
// clock so that the connection can be replaced before Zoom refuses it.
type SocketToken struct {
	Value  string
	Expiry time.Time
}

// AccessToken returns the account's cached Server-to-Server token (the
// one REST calls use), fetching one when it is missing or near expiry.
func (c *Client) AccessToken(ctx context.Context) (SocketToken, error) {
	tok, err := c.tokens.current(ctx)
	if err != nil {
		return SocketToken{}, err
	}
	return SocketToken{Value: tok.value, Expiry: tok.expiry}, nil
}

// RefreshAccessToken forgets stale, if it is still the cached token, and
// returns a fresh one: what a refused token calls for. A token another
// caller fetched meanwhile is kept and returned.
func (c *Client) RefreshAccessToken(ctx context.Context, stale string) (SocketToken, error) {
	c.tokens.invalidate(ctx, stale)
	return c.AccessToken(ctx)
}

// ClientCredentialsToken fetches a token with grant_type=client_credentials
// (the app's own token, without the account): the form Zoom's WebSocket
// documentation shows, tried when the endpoint refuses the account token.
// It is not cached and never used for REST calls.
func (c *Client) ClientCredentialsToken(ctx context.Context) (SocketToken, error) {
	select { // the credentials may be replaced meanwhile (SetCredentials)
	case c.tokens.sem <- struct{}{}:
	case <-ctx.Done():
		return SocketToken{}, ctx.Err()
	}
	defer func() { <-c.tokens.sem }()
	tok, err := c.tokens.fetchGrant(ctx, url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		return SocketToken{}, err
	}
	return SocketToken{Value: tok.value, Expiry: tok.expiry}, nil
}
