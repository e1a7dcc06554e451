//! Support for tests against a real control plane (see tests/cluster/cluster.sh).
