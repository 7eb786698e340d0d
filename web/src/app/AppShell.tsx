import DashboardIcon from '@mui/icons-material/Dashboard';
import GavelIcon from '@mui/icons-material/Gavel';
import GroupIcon from '@mui/icons-material/Group';
import HistoryIcon from '@mui/icons-material/History';
import HubIcon from '@mui/icons-material/Hub';
import KeyIcon from '@mui/icons-material/Key';
import ListAltIcon from '@mui/icons-material/ListAlt';
import MenuIcon from '@mui/icons-material/Menu';
import MonitorHeartIcon from '@mui/icons-material/MonitorHeart';
import ReportIcon from '@mui/icons-material/Report';
import SmartToyIcon from '@mui/icons-material/SmartToy';
import {
  AppBar,
  Box,
  Divider,
  Drawer,
  IconButton,
  List,
  ListItem,
  ListItemButton,
  type ListItemButtonProps,
  ListItemIcon,
  ListItemText,
  ListSubheader,
  Toolbar,
  Typography,
  useMediaQuery,
  useTheme,
} from '@mui/material';
import { createLink, Outlet, useNavigate, useRouterState } from '@tanstack/react-router';
import { forwardRef, useEffect, useState, type ReactNode } from 'react';
import { onAuthEvent } from '../api/session';
import { usePermissions, type Permission } from './auth';
import { OrgSwitcher } from './OrgSwitcher';
import { UserMenu } from './UserMenu';
import { NoOrganization } from './NoOrganization';

const DRAWER_WIDTH = 248;

const NavButtonBase = forwardRef<HTMLAnchorElement, Omit<ListItemButtonProps<'a'>, 'component'>>((props, ref) => (
  <ListItemButton ref={ref} component="a" {...props} />
));
NavButtonBase.displayName = 'NavButtonBase';
const NavButton = createLink(NavButtonBase);

interface NavItem {
  to:
    | '/'
    | '/agents'
    | '/tasks'
    | '/approvals'
    | '/dead-letters'
    | '/settings/api-keys'
    | '/settings/integrations'
    | '/admin/members'
    | '/admin/audit'
    | '/system';
  label: string;
  icon: ReactNode;
  permission?: Permission;
}

const SECTIONS: { title?: string; items: NavItem[] }[] = [
  {
    items: [
      { to: '/', label: 'Dashboard', icon: <DashboardIcon /> },
      { to: '/agents', label: 'Agents', icon: <SmartToyIcon />, permission: 'agents:read' },
      { to: '/tasks', label: 'Tasks', icon: <ListAltIcon />, permission: 'tasks:read' },
      { to: '/approvals', label: 'Approvals', icon: <GavelIcon />, permission: 'tasks:read' },
    ],
  },
  {
    title: 'Operations',
    items: [
      { to: '/dead-letters', label: 'Dead letters', icon: <ReportIcon />, permission: 'tasks:manage' },
      { to: '/system', label: 'System status', icon: <MonitorHeartIcon /> },
    ],
  },
  {
    title: 'Settings',
    items: [
      { to: '/settings/api-keys', label: 'API keys', icon: <KeyIcon />, permission: 'api_keys:own' },
      { to: '/settings/integrations', label: 'Integrations', icon: <HubIcon />, permission: 'agents:read' },
      { to: '/admin/members', label: 'Members', icon: <GroupIcon />, permission: 'members:read' },
      { to: '/admin/audit', label: 'Audit log', icon: <HistoryIcon />, permission: 'audit:read' },
    ],
  },
];

function Navigation({ onNavigate }: { onNavigate?: () => void }) {
  const { can } = usePermissions();
  const pathname = useRouterState({ select: (state) => state.location.pathname });
  return (
    <Box component="nav" aria-label="Main" sx={{ overflowY: 'auto' }}>
      {SECTIONS.map((section, index) => {
        const items = section.items.filter((item) => !item.permission || can(item.permission));
        if (items.length === 0) return null;
        const headingId = `nav-section-${index}`;
        // A list of links per section, named by its title (a list holds list items only: the title is outside).
        return (
          <Box key={section.title ?? index}>
            {section.title && (
              <ListSubheader component="div" id={headingId}>
                {section.title}
              </ListSubheader>
            )}
            <List dense aria-labelledby={section.title ? headingId : undefined} sx={{ pt: section.title ? 0 : undefined }}>
              {items.map((item) => {
                const active = item.to === '/' ? pathname === '/' : pathname === item.to || pathname.startsWith(`${item.to}/`);
                return (
                  <ListItem key={item.to} disablePadding>
                    <NavButton
                      to={item.to}
                      selected={active}
                      aria-current={active ? 'page' : undefined}
                      onClick={onNavigate}
                      sx={{ mx: 1, borderRadius: 1 }}
                    >
                      <ListItemIcon sx={{ minWidth: 36 }} aria-hidden>
                        {item.icon}
                      </ListItemIcon>
                      <ListItemText primary={item.label} />
                    </NavButton>
                  </ListItem>
                );
              })}
            </List>
          </Box>
        );
      })}
    </Box>
  );
}

export function AppShell() {
  const { me } = usePermissions();
  const theme = useTheme();
  const desktop = useMediaQuery(theme.breakpoints.up('md'), { noSsr: true });
  const [open, setOpen] = useState(false);
  const navigate = useNavigate();

  // Signed out in another tab (or the session ended): leave the app.
  useEffect(
    () =>
      onAuthEvent((event) => {
        if (event === 'signed-out') void navigate({ to: '/login', search: { redirect: undefined } });
      }),
    [navigate],
  );

  const drawer = (
    <>
      <Toolbar />
      <Divider />
      <Navigation onNavigate={desktop ? undefined : () => setOpen(false)} />
    </>
  );

  return (
    <Box sx={{ display: 'flex', minHeight: '100vh' }}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <AppBar position="fixed" color="inherit" elevation={0} sx={{ borderBottom: 1, borderColor: 'divider', zIndex: (t) => t.zIndex.drawer + 1 }}>
        <Toolbar sx={{ gap: 1 }}>
          {!desktop && (
            <IconButton
              edge="start"
              aria-label="Open navigation"
              aria-controls="main-navigation"
              aria-expanded={open}
              onClick={() => setOpen(true)}
            >
              <MenuIcon />
            </IconButton>
          )}
          <Typography component="span" sx={{ fontWeight: 700, fontSize: '1.125rem', mr: 1 }}>
            Agentic
          </Typography>
          <Box sx={{ flexGrow: 1, minWidth: 0 }}>
            <OrgSwitcher />
          </Box>
          <UserMenu />
        </Toolbar>
      </AppBar>
      <Box component="div" sx={{ width: { md: DRAWER_WIDTH }, flexShrink: { md: 0 } }}>
        {desktop ? (
          <Drawer id="main-navigation" variant="permanent" sx={{ '& .MuiDrawer-paper': { width: DRAWER_WIDTH, boxSizing: 'border-box' } }} open>
            {drawer}
          </Drawer>
        ) : (
          <Drawer
            id="main-navigation"
            variant="temporary"
            open={open}
            onClose={() => setOpen(false)}
            ModalProps={{ keepMounted: true }}
            slotProps={{ paper: { 'aria-label': 'Navigation' } }}
            sx={{ '& .MuiDrawer-paper': { width: DRAWER_WIDTH, boxSizing: 'border-box' } }}
          >
            {drawer}
          </Drawer>
        )}
      </Box>
      <Box
        component="main"
        id="main"
        tabIndex={-1}
        sx={{ flexGrow: 1, minWidth: 0, px: { xs: 2, sm: 3 }, pb: 6, outline: 'none' }}
      >
        <Toolbar />
        <Box sx={{ maxWidth: 1200, mx: 'auto', pt: 3 }}>{me.organization ? <Outlet /> : <NoOrganization />}</Box>
      </Box>
    </Box>
  );
}
