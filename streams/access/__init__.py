"""Who may use the control room: users, their roles and offices, sessions and sign-in limits."""
