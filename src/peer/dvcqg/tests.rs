//! Wire tests of the DVCQG peer against wiremock.
