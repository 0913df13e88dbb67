package app

import (
	"fmt"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// ConfigError is a configuration a command cannot work with, found as it
// starts: a setting it needs is missing, or what it was asked about is not
// configured. Like an invalid variable, it is one line and exit 2 (SPEC
// §2); nothing was changed.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// ErrorKind: asking again changes nothing until the configuration does.
func (e *ConfigError) ErrorKind() errs.Kind { return errs.Invalid }

func configErrorf(format string, args ...any) error {
	return &ConfigError{Err: fmt.Errorf(format, args...)}
}

// asConfigError marks err, returned while a command builds what it runs
// from the configuration (a Zoom client, the directory, the targets), as a
// ConfigError.
func asConfigError(err error) error {
	if err == nil {
		return nil
	}
	return &ConfigError{Err: err}
}
