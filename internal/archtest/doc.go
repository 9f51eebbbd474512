// Package archtest holds the test that enforces the import directions of
// CONTRIBUTING.md. It has no code of its own.
package archtest
