"""The reviewer: one completed task in, one review event out."""
