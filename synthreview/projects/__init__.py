"""The ground floor: projects, who belongs to them with which role, the audit log
and access checks. `generation` and `reviews` build on it; it imports neither."""
