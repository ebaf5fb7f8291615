"""The WeChat callback inbox: filled by its issue."""
