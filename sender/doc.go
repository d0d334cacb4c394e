// Package sender implements [contract.Sender], the contract the guard uses to
// deliver codes:
//
//   - [Way2API] sends through Way2API's "Send OTP/PIN by SMS" endpoint,
//     retrying only where a retry cannot send a second SMS;
//   - [Console] prints codes for local development;
//   - [Fake] records codes and fails on demand, for tests.
//
// Package way2apitest provides a stand-in Way2API server that enforces the
// documented request contract, for testing [Way2API] and the apps built on it.
//
// Writing another sender takes one method; see the example.
package sender
