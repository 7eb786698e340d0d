import AccountCircle from '@mui/icons-material/AccountCircle';
import { Divider, IconButton, ListItemText, Menu, MenuItem } from '@mui/material';
import { useNavigate } from '@tanstack/react-router';
import { useId, useState } from 'react';
import { useLogout } from '../api/queries/me';
import { useMe } from './auth';

export function UserMenu() {
  const me = useMe();
  const logout = useLogout();
  const navigate = useNavigate();
  const [anchor, setAnchor] = useState<HTMLElement | null>(null);
  const menuId = useId();

  const signOut = (everywhere: boolean) => {
    setAnchor(null);
    logout.mutate(everywhere, {
      onSettled: () => void navigate({ to: '/login', search: { redirect: undefined } }),
    });
  };

  return (
    <>
      <IconButton
        aria-label={`Account: ${me.email}`}
        aria-haspopup="menu"
        aria-controls={anchor ? menuId : undefined}
        aria-expanded={anchor ? true : undefined}
        onClick={(event) => setAnchor(event.currentTarget)}
      >
        <AccountCircle />
      </IconButton>
      <Menu id={menuId} anchorEl={anchor} open={anchor !== null} onClose={() => setAnchor(null)}>
        <MenuItem disabled sx={{ opacity: '1 !important' }}>
          <ListItemText
            primary={me.display_name || me.email}
            secondary={me.organization ? `${me.organization.role} in ${me.organization.name}` : me.email}
          />
        </MenuItem>
        <Divider />
        <MenuItem onClick={() => signOut(false)}>Sign out</MenuItem>
        <MenuItem onClick={() => signOut(true)}>Sign out on every device</MenuItem>
      </Menu>
    </>
  );
}
