package templates

import (
	"reflect"

	"golang.org/x/text/language"
)

// Messages are the words the user sees on the pages and in JSON "message"
// fields, in one language. Placeholders are replaced where they apply:
// {phone} (masked), {length} (digits in a code), {attempts} (attempts left,
// a bare number), {wait} (a duration such as "2 min 30 s", in the language's
// units), and the plural phrases {attempts_left}, {codes_left} and {days},
// each taken from its Plural by the language's CLDR plural rules.
type Messages struct {
	Lang            string // the pages' lang attribute; set from the Language's tag
	Title           string // page title and heading
	Lead            string // under the heading, when a code was sent
	StepUpTitle     string // the code page of a step-up: a sensitive action
	StepUpLead      string // why a code is asked again; {length}, {phone}
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
	PrefixBlocked   string // the number's prefix is blocked (SMS pumping); {wait}
	SendFailed      string // the provider refused or failed
	SendDelayed     string // the send may or may not have happened
	PhoneUnusable   string // the account's number is invalid or not allowed
	Unavailable     string // a store or session failure
	CrossOrigin     string // a cross-site POST was refused

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
	RecoveredLead   string // {codes_left}
	RecoveryLow     string // few recovery codes are left
	RecoveryUsed    string // the same recovery code, just spent by this browser
	NoCodes         string // the user has no recovery codes: why to make them
	HaveCodes       string // the recovery-codes page, for a user with some; {codes_left}
	MakeCodes       string // its button
	CodesTitle      string
	CodesLead       string
	CodesLabel      string
	Continue        string
	Enrolled        string // after enrolling (above the recovery codes)
	Changed         string // after changing the number: {phone}

	// The authenticator app: its code page, and its setup page.
	AppLead        string // the code page, for a code from the app; {length}
	AppStepUpLead  string // the same, for a step-up
	UseSMS         string // the button that texts a code instead
	UseApp         string // on a texted code's page: back to the app's code
	AppCodeInvalid string // a wrong code from the app
	AppCodeUsed    string // a code of a time step used already
	AppTitle       string // the setup page
	AppSetupLead   string
	AppReplaceLead string // the setup page, for a user who has an app
	AppKeyLabel    string // before the secret, for typing it in
	AppURILabel    string // the otpauth:// link, for an app on the same device
	AppCodeLabel   string // the confirming code's label
	AppSubmit      string
	AppAdded       string // after the app is confirmed
	AppRemove      string // the button that removes the app
	AppUnusable    string // the app's secret cannot be read, and there is no number to text

	AttemptsLeft Plural // {attempts_left}: "{n} attempts left"
	CodesLeft    Plural // {codes_left}: "{n} recovery codes left"
	Days         Plural // {days}: "{n} days"
	Seconds      Plural // units of {wait}: "{n} s"
	Minutes      Plural
	Hours        Plural
}

// Plural is one phrase in the plural forms of CLDR's cardinal rules; {n}
// stands for the number. A language fills the forms it has (English: One
// and Other; Hindi: One — for 0 and 1 — and Other); an empty form falls back
// to Other.
type Plural struct {
	Zero, One, Two, Few, Many, Other string
}

// DefaultMessages returns the built-in English words.
func DefaultMessages() Messages { return English().Messages }

// English is the built-in English.
func English() Language {
	return Language{Tag: language.English, Messages: Messages{
		Title:           "Enter your code",
		Lead:            "We sent a {length}-digit code by SMS to {phone}.",
		StepUpTitle:     "Confirm it is you",
		StepUpLead:      "What you are about to do is sensitive, so we ask for a new code. We sent a {length}-digit code by SMS to {phone}.",
		CodeLabel:       "Code",
		Submit:          "Verify",
		Resend:          "Send a new code",
		ResendIn:        "Send a new code in {wait}",
		NoScript:        "Reload this page when the wait is over to send a new code.",
		Resent:          "A new code is on its way to {phone}.",
		CodeInvalid:     "That code is not right. {attempts_left}.",
		CodeMalformed:   "Enter the {length} digits of the code.",
		CodeExpired:     "This code has expired. Send a new one.",
		TooManyAttempts: "Too many wrong codes for this one. Send a new code.",
		Locked:          "Too many wrong codes. Try again in {wait}.",
		ResendTooSoon:   "You can ask for a new code in {wait}.",
		SendLimited:     "Too many codes have been sent. Try again in {wait}.",
		PrefixBlocked:   "Codes to numbers like yours are paused: many were sent and never entered. Try again in {wait}, or sign in another way.",
		SendFailed:      "We could not send the code. Try again.",
		SendDelayed:     "Your code may take a little longer to arrive.",
		PhoneUnusable:   "We cannot send a code to the phone number on your account. Please contact support.",
		Unavailable:     "Something went wrong on our side. Please try again in a moment.",
		CrossOrigin:     "This form was sent from another site and was refused.",
		RememberDevice:  "Remember this device for {days}",
		RecoverLink:     "Lost your phone? Use a recovery code",
		EnrolTitle:      "Add your phone number",
		EnrolLead:       "We will text a code to this number to check that it is yours.",
		ChangeTitle:     "Change your phone number",
		ChangeLead:      "Your codes go to {phone} now. We will text a code to the new number to check it.",
		PhoneLabel:      "Mobile number",
		EnrolSubmit:     "Send a code",
		PhoneInvalid:    "We cannot send a code to that number. Enter a mobile number with its country code, as in +91 98765 43210.",
		SameNumber:      "That is already your number.",
		RecoverTitle:    "Use a recovery code",
		RecoverLead:     "Enter one of the recovery codes you saved when you added your phone. Each one works once.",
		RecoveryLabel:   "Recovery code",
		RecoverSubmit:   "Sign in",
		RecoveryInvalid: "That recovery code is not right, or it was used already.",
		RecoveredTitle:  "You are signed in",
		RecoveredLead:   "You used a recovery code. {codes_left}.",
		RecoveryLow:     "Few recovery codes are left: make new ones from your account.",
		RecoveryUsed:    "That recovery code was just used to sign you in.",
		NoCodes:         "You have no recovery codes. If you lose your phone, a recovery code is how you sign in without it: make a set and keep it somewhere safe.",
		HaveCodes:       "{codes_left}. Making new ones replaces them all.",
		MakeCodes:       "Make recovery codes",
		CodesTitle:      "Your recovery codes",
		CodesLead:       "Save these codes somewhere safe, such as a password manager. Each one signs you in once if you lose your phone. They will not be shown again.",
		CodesLabel:      "Recovery codes",
		Continue:        "Continue",
		Enrolled:        "Your phone number is saved.",
		Changed:         "Your codes now go to {phone}.",
		AppLead:         "Enter the {length}-digit code your authenticator app shows.",
		AppStepUpLead:   "What you are about to do is sensitive, so we ask for a new code. Enter the {length}-digit code your authenticator app shows.",
		UseSMS:          "Text me a code instead",
		UseApp:          "Use my authenticator app instead",
		AppCodeInvalid:  "That code is not right. Enter the code your authenticator app shows now.",
		AppCodeUsed:     "That code was used already. Wait for the next code in your app.",
		AppTitle:        "Set up an authenticator app",
		AppSetupLead:    "Scan the QR code with your authenticator app, or type the key into it, then enter the 6-digit code it shows.",
		AppReplaceLead:  "You have an authenticator app. To move to a new one, scan this code with it: the old one works until the new one is confirmed.",
		AppKeyLabel:     "Key:",
		AppURILabel:     "Open in an authenticator app on this device",
		AppCodeLabel:    "Code from the app",
		AppSubmit:       "Confirm",
		AppAdded:        "Your authenticator app is set up: from now on, sign in with its codes.",
		AppRemove:       "Remove the authenticator app",
		AppUnusable:     "We cannot check codes from your authenticator app right now. Sign in with a recovery code, or contact support.",
		AttemptsLeft:    Plural{One: "{n} attempt left", Other: "{n} attempts left"},
		CodesLeft:       Plural{One: "{n} recovery code left", Other: "{n} recovery codes left"},
		Days:            Plural{One: "{n} day", Other: "{n} days"},
		Seconds:         Plural{Other: "{n} s"},
		Minutes:         Plural{Other: "{n} min"},
		Hours:           Plural{Other: "{n} h"},
	}}
}

// Hindi is the built-in Hindi, in Devanagari. The README lists the strings a
// native speaker should review.
func Hindi() Language {
	return Language{Tag: language.Hindi, Messages: Messages{
		Title:           "अपना कोड डालें",
		Lead:            "हमने {phone} पर SMS से {length} अंकों का कोड भेजा है।",
		StepUpTitle:     "पुष्टि करें कि यह आप ही हैं",
		StepUpLead:      "आप जो करने जा रहे हैं वह संवेदनशील है, इसलिए हम एक नया कोड माँग रहे हैं। हमने {phone} पर SMS से {length} अंकों का कोड भेजा है।",
		CodeLabel:       "कोड",
		Submit:          "पुष्टि करें",
		Resend:          "नया कोड भेजें",
		ResendIn:        "{wait} में नया कोड भेजें",
		NoScript:        "इंतज़ार पूरा होने पर नया कोड भेजने के लिए यह पेज दोबारा लोड करें।",
		Resent:          "{phone} पर नया कोड भेजा जा रहा है।",
		CodeInvalid:     "यह कोड सही नहीं है। {attempts_left}।",
		CodeMalformed:   "कोड के {length} अंक डालें।",
		CodeExpired:     "इस कोड की समय-सीमा ख़त्म हो गई है। नया कोड मँगवाएँ।",
		TooManyAttempts: "इस कोड के लिए बहुत ज़्यादा गलत कोड डाले गए। नया कोड मँगवाएँ।",
		Locked:          "बहुत ज़्यादा गलत कोड डाले गए। {wait} बाद फिर कोशिश करें।",
		ResendTooSoon:   "आप {wait} बाद नया कोड मँगवा सकते हैं।",
		SendLimited:     "बहुत ज़्यादा कोड भेजे जा चुके हैं। {wait} बाद फिर कोशिश करें।",
		PrefixBlocked:   "आपके जैसे नंबरों पर कोड अभी रोके गए हैं: कई कोड भेजे गए पर कभी डाले नहीं गए। {wait} बाद फिर कोशिश करें, या किसी और तरीके से साइन इन करें।",
		SendFailed:      "हम कोड नहीं भेज पाए। कृपया फिर कोशिश करें।",
		SendDelayed:     "आपका कोड आने में थोड़ी देर लग सकती है।",
		PhoneUnusable:   "आपके खाते के फ़ोन नंबर पर कोड नहीं भेजा जा सकता। कृपया सहायता टीम से संपर्क करें।",
		Unavailable:     "हमारी तरफ़ से कुछ गड़बड़ हो गई। कृपया थोड़ी देर बाद फिर कोशिश करें।",
		CrossOrigin:     "यह फ़ॉर्म किसी दूसरी साइट से भेजा गया था, इसलिए स्वीकार नहीं किया गया।",
		RememberDevice:  "इस डिवाइस को {days} तक याद रखें",
		RecoverLink:     "फ़ोन पास नहीं है? रिकवरी कोड इस्तेमाल करें",
		EnrolTitle:      "अपना फ़ोन नंबर जोड़ें",
		EnrolLead:       "यह नंबर आपका ही है, यह जाँचने के लिए हम इस पर एक कोड भेजेंगे।",
		ChangeTitle:     "अपना फ़ोन नंबर बदलें",
		ChangeLead:      "अभी आपके कोड {phone} पर जाते हैं। नए नंबर की जाँच के लिए हम उस पर एक कोड भेजेंगे।",
		PhoneLabel:      "मोबाइल नंबर",
		EnrolSubmit:     "कोड भेजें",
		PhoneInvalid:    "इस नंबर पर कोड नहीं भेजा जा सकता। देश के कोड के साथ मोबाइल नंबर डालें, जैसे +91 98765 43210।",
		SameNumber:      "यह पहले से ही आपका नंबर है।",
		RecoverTitle:    "रिकवरी कोड इस्तेमाल करें",
		RecoverLead:     "फ़ोन नंबर जोड़ते समय आपने जो रिकवरी कोड सहेजे थे, उनमें से कोई एक डालें। हर कोड सिर्फ़ एक बार काम करता है।",
		RecoveryLabel:   "रिकवरी कोड",
		RecoverSubmit:   "साइन इन करें",
		RecoveryInvalid: "यह रिकवरी कोड सही नहीं है, या पहले ही इस्तेमाल हो चुका है।",
		RecoveredTitle:  "आप साइन इन हो गए हैं",
		RecoveredLead:   "आपने एक रिकवरी कोड इस्तेमाल किया। {codes_left}।",
		RecoveryLow:     "अब कुछ ही रिकवरी कोड बचे हैं: अपने खाते से नए कोड बना लें।",
		RecoveryUsed:    "इस रिकवरी कोड से अभी-अभी आपको साइन इन किया गया है।",
		NoCodes:         "आपके पास कोई रिकवरी कोड नहीं है। फ़ोन खो जाए तो रिकवरी कोड से ही आप उसके बिना साइन इन कर सकते हैं: कोड बनाएँ और उन्हें किसी सुरक्षित जगह रखें।",
		HaveCodes:       "{codes_left}। नए कोड बनाने पर पुराने सभी कोड बदल जाएँगे।",
		MakeCodes:       "रिकवरी कोड बनाएँ",
		CodesTitle:      "आपके रिकवरी कोड",
		CodesLead:       "इन कोड को किसी सुरक्षित जगह, जैसे पासवर्ड मैनेजर में, सहेज लें। फ़ोन खो जाए तो हर कोड से एक बार साइन इन किया जा सकता है। ये कोड दोबारा नहीं दिखाए जाएँगे।",
		CodesLabel:      "रिकवरी कोड",
		Continue:        "आगे बढ़ें",
		Enrolled:        "आपका फ़ोन नंबर सहेज लिया गया है।",
		Changed:         "अब आपके कोड {phone} पर जाएँगे।",
		AppLead:         "अपने ऑथेंटिकेटर ऐप में दिख रहा {length} अंकों का कोड डालें।",
		AppStepUpLead:   "आप जो करने जा रहे हैं वह संवेदनशील है, इसलिए हम एक नया कोड माँग रहे हैं। अपने ऑथेंटिकेटर ऐप में दिख रहा {length} अंकों का कोड डालें।",
		UseSMS:          "इसके बजाय SMS से कोड भेजें",
		UseApp:          "इसके बजाय मेरा ऑथेंटिकेटर ऐप इस्तेमाल करें",
		AppCodeInvalid:  "यह कोड सही नहीं है। आपका ऑथेंटिकेटर ऐप अभी जो कोड दिखा रहा है, वह डालें।",
		AppCodeUsed:     "यह कोड पहले ही इस्तेमाल हो चुका है। अपने ऐप में अगले कोड का इंतज़ार करें।",
		AppTitle:        "ऑथेंटिकेटर ऐप जोड़ें",
		AppSetupLead:    "अपने ऑथेंटिकेटर ऐप से QR कोड स्कैन करें, या उसमें की टाइप करें, फिर ऐप में दिख रहा 6 अंकों का कोड डालें।",
		AppReplaceLead:  "आपके पास पहले से एक ऑथेंटिकेटर ऐप है। नए ऐप पर जाने के लिए उससे यह कोड स्कैन करें: नए ऐप की पुष्टि होने तक पुराना ऐप काम करता रहेगा।",
		AppKeyLabel:     "की:",
		AppURILabel:     "इसी डिवाइस के ऑथेंटिकेटर ऐप में खोलें",
		AppCodeLabel:    "ऐप का कोड",
		AppSubmit:       "पुष्टि करें",
		AppAdded:        "आपका ऑथेंटिकेटर ऐप जुड़ गया है: अब से उसके कोड से साइन इन करें।",
		AppRemove:       "ऑथेंटिकेटर ऐप हटाएँ",
		AppUnusable:     "हम अभी आपके ऑथेंटिकेटर ऐप के कोड की जाँच नहीं कर पा रहे हैं। रिकवरी कोड से साइन इन करें, या सहायता टीम से संपर्क करें।",
		AttemptsLeft:    Plural{One: "{n} कोशिश बाकी है", Other: "{n} कोशिशें बाकी हैं"},
		CodesLeft:       Plural{One: "{n} रिकवरी कोड बचा है", Other: "{n} रिकवरी कोड बचे हैं"},
		Days:            Plural{Other: "{n} दिन"},
		Seconds:         Plural{Other: "{n} सेकंड"},
		Minutes:         Plural{Other: "{n} मिनट"},
		Hours:           Plural{One: "{n} घंटा", Other: "{n} घंटे"},
	}}
}

// Merge returns m with every field that o sets (every non-empty string)
// replaced by o's: WithMessages merges an app's words over English.
func (m Messages) Merge(o Messages) Messages {
	mergeStrings(reflect.ValueOf(&m).Elem(), reflect.ValueOf(o))
	return m
}

// mergeStrings copies every non-empty string of src into dst, into nested
// structs (Plural) too.
func mergeStrings(dst, src reflect.Value) {
	for i := range src.NumField() {
		switch f := src.Field(i); f.Kind() {
		case reflect.String:
			if f.String() != "" {
				dst.Field(i).SetString(f.String())
			}
		case reflect.Struct:
			mergeStrings(dst.Field(i), f)
		}
	}
}

// Language is one language of the guard's pages and messages. English and
// Hindi are built in (English, Hindi); WithLanguage adds or replaces one.
type Language struct {
	Tag      language.Tag // BCP 47, e.g. language.Hindi; it picks the plural rules
	Messages Messages     // empty fields fall back to English
}
