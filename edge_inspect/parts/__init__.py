"""Parts: triggers, frames tied to the part they were taken for, and one verdict per part."""
