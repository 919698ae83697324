"""ldm-plugin-conditioners: tau_theta for each wiring (class, text, layout, spatial inputs)."""
