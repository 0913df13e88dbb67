package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// EventURLValidation is the event Zoom sends to validate an endpoint URL
// (at subscription time and every 72 hours).
const EventURLValidation = "endpoint.url_validation"

// URLValidation is the answer to endpoint.url_validation.
type URLValidation struct {
	PlainToken     string `json:"plainToken"`
	EncryptedToken string `json:"encryptedToken"`
}

// ValidateURL computes the answer for plainToken with the secret token.
func ValidateURL(secretToken, plainToken string) URLValidation {
	mac := hmac.New(sha256.New, []byte(secretToken))
	mac.Write([]byte(plainToken))
	return URLValidation{PlainToken: plainToken, EncryptedToken: hex.EncodeToString(mac.Sum(nil))}
}
