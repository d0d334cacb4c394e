// Package contract is what the guard's parts implement, as
// database/sql/driver is to database/sql: the store's interfaces, split per
// concern (challenges, grants, factors, recovery codes, devices,
// authenticator apps, number prefixes), their
// parameter and result types, the sentinel errors and [LimitError] by which
// a store refuses; the [Sender] an SMS provider's client satisfies; and the
// [Method] each way of completing the second factor implements (packages
// sms, recovery, device), with its small capability interfaces. The store
// packages (store/sqlite, store/postgres), the senders (sender) and the
// methods import it. An app rarely names it: it hands a store and a sender
// to sms2fa.New, and names a flow or a content (FlowStepUp, ContentPIN) only
// to configure the SMS method's purposes.
//
// It imports nothing of the module, so a store or sender written elsewhere
// depends on this small package alone. The conformance suite in
// store/storetest checks a store against every rule written here.
package contract
