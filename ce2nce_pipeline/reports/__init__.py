"""Visual QC reports: ``sub-X.html`` per participant and ``group.html`` (docs/reports.md)."""
