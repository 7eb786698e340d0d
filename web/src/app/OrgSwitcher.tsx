import { MenuItem, TextField, Typography } from '@mui/material';
import { useNavigate } from '@tanstack/react-router';
import { useSwitchOrganization } from '../api/queries/me';
import { useMe } from './auth';

/** The organisation requests act in; a select when the user belongs to several. */
export function OrgSwitcher() {
  const me = useMe();
  const switchTo = useSwitchOrganization();
  const navigate = useNavigate();
  if (!me.organization) return null;
  if (me.organizations.length < 2) {
    return (
      <Typography noWrap color="text.secondary" title={me.organization.name}>
        {me.organization.name}
      </Typography>
    );
  }
  return (
    <TextField
      select
      size="small"
      margin="none"
      fullWidth={false}
      label="Organisation"
      value={me.organization.id}
      onChange={(event) => {
        void navigate({ to: '/' });
        void switchTo(event.target.value);
      }}
      sx={{ minWidth: 160, maxWidth: 280 }}
    >
      {me.organizations.map((org) => (
        <MenuItem key={org.id} value={org.id}>
          {org.name} ({org.role})
        </MenuItem>
      ))}
    </TextField>
  );
}
