"""What pages show: page helpers, figures, verdict text and the findings."""
