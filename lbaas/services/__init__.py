"""Use-cases, framework-free: validate → lock (CAS) → write → bump generation → commit → nudge."""
