// Package contract is what a store or a sender implements, and nothing an app
// needs: the store's interfaces, split per concern (challenges, grants,
// factors, recovery codes, devices), their parameter and result types, the
// sentinel errors and [LimitError] by which a store refuses, and the [Sender]
// an SMS provider's client satisfies — as database/sql/driver is to
// database/sql. The store packages (store/sqlite, store/postgres) and the
// senders (sender) import it; an app hands their values to sms2fa.New.
//
// It imports nothing of the module, so a store or sender written elsewhere
// depends on this small package alone. The conformance suite in
// store/storetest checks a store against every rule written here.
package contract
