package store

import (
	"context"
	"errors"
	"time"

	"github.com/sms2fa/sms2fa"
)

// errTODO marks the lifecycle operations still being written.
var errTODO = errors.New("store: not implemented yet")

// Factor implements [sms2fa.Store].
func (s *SQL) Factor(ctx context.Context, userID string) (sms2fa.Factor, error) {
	return sms2fa.Factor{}, sms2fa.ErrNotFound
}

// AdoptFactor implements [sms2fa.Store].
func (s *SQL) AdoptFactor(ctx context.Context, userID, phone, region string) (sms2fa.Factor, bool, error) {
	return sms2fa.Factor{UserID: userID, Phone: phone, Region: region, Version: 1}, true, nil
}

// SetFactor implements [sms2fa.Store].
func (s *SQL) SetFactor(ctx context.Context, userID, phone, region string) (sms2fa.Factor, sms2fa.Factor, error) {
	return sms2fa.Factor{}, sms2fa.Factor{}, errTODO
}

// RemoveFactor implements [sms2fa.Store].
func (s *SQL) RemoveFactor(ctx context.Context, userID string) (sms2fa.Factor, error) {
	return sms2fa.Factor{}, errTODO
}

// NoteMismatch implements [sms2fa.Store].
func (s *SQL) NoteMismatch(ctx context.Context, userID, tag string) (bool, error) {
	return false, errTODO
}

// ReplaceRecoveryCodes implements [sms2fa.Store].
func (s *SQL) ReplaceRecoveryCodes(ctx context.Context, userID string, macs [][]byte) error {
	return errTODO
}

// UseRecoveryCode implements [sms2fa.Store].
func (s *SQL) UseRecoveryCode(ctx context.Context, userID string, mac []byte, p sms2fa.VerifyParams) (int, sms2fa.Grant, error) {
	return 0, sms2fa.Grant{}, errTODO
}

// RecoveryCodesLeft implements [sms2fa.Store].
func (s *SQL) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	return 0, errTODO
}

// AddDevice implements [sms2fa.Store].
func (s *SQL) AddDevice(ctx context.Context, userID string, d sms2fa.Device, mac []byte) error {
	return errTODO
}

// UseDevice implements [sms2fa.Store].
func (s *SQL) UseDevice(ctx context.Context, userID, id string, mac, next []byte, factorVersion int64, login string, grace time.Duration, p sms2fa.VerifyParams) (sms2fa.Grant, bool, error) {
	return sms2fa.Grant{}, false, sms2fa.ErrNotFound
}

// Devices implements [sms2fa.Store].
func (s *SQL) Devices(ctx context.Context, userID string) ([]sms2fa.Device, error) {
	return nil, errTODO
}

// RevokeDevice implements [sms2fa.Store].
func (s *SQL) RevokeDevice(ctx context.Context, userID, id string) (bool, error) {
	return false, errTODO
}

// RevokeDevices implements [sms2fa.Store].
func (s *SQL) RevokeDevices(ctx context.Context, userID string) (int, error) {
	return 0, errTODO
}
