import { createTheme } from '@mui/material/styles';

/**
 * Light and dark schemes follow the operating system (CSS variables, no flash on load). Colours are chosen
 * for WCAG AA contrast on their backgrounds: the primary blue is 6.2:1 on white, the dark one 7.4:1 on the
 * dark paper; links are underlined.
 */
const options = {
  colorSchemes: {
    light: {
      palette: {
        primary: { main: '#0b57d0' },
        // MUI's default warning and info are 3.1:1 and 4.1:1 on white: too light for the text of an outlined
        // chip. These are 5.0:1 and 5.9:1.
        warning: { main: '#b45309' },
        info: { main: '#0369a1' },
        background: { default: '#f6f7f9', paper: '#ffffff' },
        text: { secondary: '#4f5862' },
      },
    },
    dark: {
      palette: {
        primary: { main: '#7cacf8' },
        background: { default: '#0d1117', paper: '#161b22' },
      },
    },
  },
  shape: { borderRadius: 8 },
  typography: {
    fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif",
    h1: { fontSize: '1.75rem', fontWeight: 700 },
    h2: { fontSize: '1.25rem', fontWeight: 600 },
    h3: { fontSize: '1.05rem', fontWeight: 600 },
  },
  components: {
    MuiButton: { defaultProps: { disableElevation: true } },
    MuiTextField: { defaultProps: { fullWidth: true, margin: 'normal' } },
    // A link inside a sentence must not rely on colour alone (WCAG 1.4.1).
    MuiLink: { defaultProps: { underline: 'always' } },
    MuiTableCell: { styleOverrides: { head: { fontWeight: 600 } } },
    // Menus (and selects' lists) render where they are declared instead of at the end of <body>, so that they
    // sit inside a landmark (the header, the main content) as axe's "region" rule asks. They are still
    // position: fixed overlays, so nothing clips them.
    MuiMenu: { defaultProps: { disablePortal: true } },
  },
} as const;

export const theme = createTheme({ ...options, cssVariables: { colorSchemeSelector: 'media' } });

/** The same theme without CSS variables (light scheme only), for tests: jsdom is slow with custom properties. */
export const plainTheme = createTheme({ ...options, colorSchemes: { light: options.colorSchemes.light } });
