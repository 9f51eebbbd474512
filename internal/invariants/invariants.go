// Package invariants switches expensive consistency checks on and off.
//
// Build with `-tags invariants` (make test does) to turn Enabled on; code
// guards its checks with `if invariants.Enabled { ... }` so that in a normal
// build the compiler removes them. This package imports only the standard
// library.
package invariants
