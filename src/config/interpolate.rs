//! `${VAR}` and `${VAR:-default}` interpolation (pure: takes a lookup function).
