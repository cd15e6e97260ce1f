"""Handlers for school staff chats (a school's inbox: a group or a private chat)."""
