//! The failure lab: endpoints that reproduce each failure wsprobe names.
