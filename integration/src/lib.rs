//! Test harness for the integration tests: bundles, the binary, helpers.
