package sms2fa

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Messages are the words the user sees on the page and in JSON "message"
// fields. Placeholders are replaced where they apply: {phone} (masked),
// {length} (digits in a code), {attempts} (attempts left), {wait} (a
// duration such as "2 min 30 s").
type Messages struct {
	Lang            string // the page's lang attribute
	Title           string // page title and heading
	Lead            string // under the heading, when a code was sent
	CodeLabel       string // the input's label
	Submit          string // the verify button
	Resend          string // the resend button
	ResendIn        string // the resend button during the cooldown
	NoScript        string // shown without JavaScript, next to a waiting resend button
	Resent          string // after a resend
	CodeInvalid     string // a wrong code with attempts left
	CodeMalformed   string // input that cannot be a code
	CodeExpired     string
	TooManyAttempts string // the challenge is dead
	Locked          string // the user is locked out
	ResendTooSoon   string
	SendLimited     string // a send budget refused
	SendFailed      string // the provider refused or failed
	SendDelayed     string // the send may or may not have happened
	PhoneUnusable   string // the account's number is invalid or not allowed
	// SecondFactorUnavailable: a user who must complete the second factor
	// has no phone number.
	SecondFactorUnavailable string

	RememberDevice  string // the code page's checkbox; {days}
	RecoverLink     string // the code page's link to the recovery form
	EnrolTitle      string // the enrol form, for a user without a number
	EnrolLead       string
	ChangeTitle     string // the same form, for a user changing the number
	ChangeLead      string // {phone}: the number codes go to now
	PhoneLabel      string
	EnrolSubmit     string
	PhoneInvalid    string // not a mobile number, or a country that is not served
	SameNumber      string // a change to the number already enrolled
	RecoverTitle    string
	RecoverLead     string
	RecoveryLabel   string
	RecoverSubmit   string
	RecoveryInvalid string
	RecoveredTitle  string
	RecoveredLead   string // {left}: recovery codes left
	RecoveryLow     string // few recovery codes are left
	CodesTitle      string
	CodesLead       string
	CodesLabel      string
	Continue        string
	Enrolled        string // after enrolling (above the recovery codes)
	Changed         string // after changing the number: {phone}
	Unavailable     string // a store or session failure
	CrossOrigin     string // a cross-site POST was refused
}

// DefaultMessages returns the built-in English words.
func DefaultMessages() Messages {
	return Messages{
		Lang:                    "en",
		Title:                   "Enter your code",
		Lead:                    "We sent a {length}-digit code by SMS to {phone}.",
		CodeLabel:               "Code",
		Submit:                  "Verify",
		Resend:                  "Send a new code",
		ResendIn:                "Send a new code in {wait}",
		NoScript:                "Reload this page when the wait is over to send a new code.",
		Resent:                  "A new code is on its way to {phone}.",
		CodeInvalid:             "That code is not right. {attempts} attempts left.",
		CodeMalformed:           "Enter the {length} digits of the code.",
		CodeExpired:             "This code has expired. Send a new one.",
		TooManyAttempts:         "Too many wrong codes for this one. Send a new code.",
		Locked:                  "Too many wrong codes. Try again in {wait}.",
		ResendTooSoon:           "You can ask for a new code in {wait}.",
		SendLimited:             "Too many codes have been sent. Try again in {wait}.",
		SendFailed:              "We could not send the code. Try again.",
		SendDelayed:             "Your code may take a little longer to arrive.",
		PhoneUnusable:           "We cannot send a code to the phone number on your account. Please contact support.",
		SecondFactorUnavailable: "Your account has no phone number for the second sign-in step. Please contact support.",
		RememberDevice:          "Remember this device for {days} days",
		RecoverLink:             "Lost your phone? Use a recovery code",
		EnrolTitle:              "Add your phone number",
		EnrolLead:               "We will text a code to this number to check that it is yours.",
		ChangeTitle:             "Change your phone number",
		ChangeLead:              "Your codes go to {phone} now. We will text a code to the new number to check it.",
		PhoneLabel:              "Mobile number",
		EnrolSubmit:             "Send a code",
		PhoneInvalid:            "We cannot send a code to that number. Enter a mobile number with its country code, as in +91 98765 43210.",
		SameNumber:              "That is already your number.",
		RecoverTitle:            "Use a recovery code",
		RecoverLead:             "Enter one of the recovery codes you saved when you added your phone. Each one works once.",
		RecoveryLabel:           "Recovery code",
		RecoverSubmit:           "Sign in",
		RecoveryInvalid:         "That recovery code is not right, or it was used already.",
		RecoveredTitle:          "You are signed in",
		RecoveredLead:           "You used a recovery code. Recovery codes left: {left}.",
		RecoveryLow:             "Few recovery codes are left: make new ones from your account.",
		CodesTitle:              "Your recovery codes",
		CodesLead:               "Save these codes somewhere safe, such as a password manager. Each one signs you in once if you lose your phone. They will not be shown again.",
		CodesLabel:              "Recovery codes",
		Continue:                "Continue",
		Enrolled:                "Your phone number is saved.",
		Changed:                 "Your codes now go to {phone}.",
		Unavailable:             "Something went wrong on our side. Please try again in a moment.",
		CrossOrigin:             "This form was sent from another site and was refused.",
	}
}

// merge returns m with every empty field of o left as it was.
func (m Messages) merge(o Messages) Messages {
	dst, src := reflect.ValueOf(&m).Elem(), reflect.ValueOf(o)
	for i := range src.NumField() {
		if s := src.Field(i).String(); s != "" {
			dst.Field(i).SetString(s)
		}
	}
	return m
}

// vars are the values a message's placeholders can take.
type vars struct {
	phone    string
	length   int
	attempts int
	wait     time.Duration
	days     int
	left     int
}

// fill replaces the placeholders of msg.
func fill(msg string, v vars) string {
	if !strings.Contains(msg, "{") {
		return msg
	}
	return strings.NewReplacer(
		"{phone}", v.phone,
		"{length}", fmt.Sprint(v.length),
		"{attempts}", fmt.Sprint(v.attempts),
		"{wait}", humanWait(v.wait),
		"{days}", fmt.Sprint(v.days),
		"{left}", fmt.Sprint(v.left),
	).Replace(msg)
}

// humanWait says a wait the way a person would: "45 s", "2 min 30 s",
// "15 min", "3 h 20 min". Waits are rounded up: "try again in 0 s" helps no one.
func humanWait(d time.Duration) string {
	s := int64(ceilSeconds(d) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", max(s, 1))
	case s < 3600:
		if s%60 == 0 {
			return fmt.Sprintf("%d min", s/60)
		}
		return fmt.Sprintf("%d min %d s", s/60, s%60)
	default:
		m := (s + 59) / 60
		if m%60 == 0 {
			return fmt.Sprintf("%d h", m/60)
		}
		return fmt.Sprintf("%d h %d min", m/60, m%60)
	}
}
