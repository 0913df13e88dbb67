package graphapi

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// User is what the client reads of a Graph user.
type User struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail"`
	ImmutableID       string `json:"onPremisesImmutableId"`
}

const userSelect = "id,userPrincipalName,mail,onPremisesImmutableId"

// UserCall reads one user by object id or userPrincipalName into out;
// a 404 is errs.NotFound.
func (c *Client) UserCall(key string, out *User) *Call {
	return &Call{Op: "GetUser", Method: http.MethodGet, Path: userPath(key) + "?$select=" + userSelect, users: true, Out: out}
}

// UserList is the answer of a user $filter.
type UserList struct {
	Value []User `json:"value"`
}

// Filterable user properties.
const (
	ByMail        = "mail"
	ByUPN         = "userPrincipalName"
	ByImmutableID = "onPremisesImmutableId"
)

// FindUsersCall lists the users whose property equals value into out.
func (c *Client) FindUsersCall(property, value string, out *UserList) *Call {
	q := url.Values{"$filter": {property + " eq " + odataString(value)}, "$select": {userSelect}}
	return &Call{Op: "FindUsers", Method: http.MethodGet, Path: "/users?" + strings.ReplaceAll(q.Encode(), "+", "%20"), users: true, Out: out}
}

// GetUser reads one user by object id or UPN.
func (c *Client) GetUser(ctx context.Context, key string) (User, error) {
	var u User
	err := c.Do(ctx, c.UserCall(key, &u))
	return u, err
}

// FindUsers lists the users whose property equals value.
func (c *Client) FindUsers(ctx context.Context, property, value string) ([]User, error) {
	var l UserList
	err := c.Do(ctx, c.FindUsersCall(property, value, &l))
	return l.Value, err
}

// ErrNotAGUID is ImmutableID's answer to a value that is not a GUID.
var ErrNotAGUID = errs.E("graphapi.ImmutableID", errs.Invalid, errors.New("not a GUID"))

// ImmutableID is the onPremisesImmutableId Entra Connect gives a user
// whose Active Directory objectGUID is guid, written as AD shows it
// ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", the first three groups
// little-endian): base64 of the attribute's 16 raw bytes. The raw bytes
// are the string's with its first three groups reversed byte by byte
// (.NET's Guid.ToByteArray): base64 of the string's bytes in written
// order (an RFC 4122 parse) names another user, or nobody.
func ImmutableID(guid string) (string, error) {
	h := strings.ReplaceAll(strings.Trim(strings.TrimSpace(guid), "{}"), "-", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 || len(guid) < 32 {
		return "", ErrNotAGUID
	}
	raw := []byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]}
	raw = append(raw, b[8:]...)
	return base64.StdEncoding.EncodeToString(raw), nil
}

// GUIDFromImmutableID is ImmutableID's inverse: the objectGUID as AD
// shows it.
func GUIDFromImmutableID(id string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(id)
	if err != nil || len(b) != 16 {
		return "", ErrNotAGUID
	}
	o := []byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]}
	o = append(o, b[8:]...)
	h := hex.EncodeToString(o)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}
