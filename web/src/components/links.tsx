/** MUI links and buttons that navigate with the router (typed `to`, `params` and `search`). */
import { Button, Link, type ButtonProps, type LinkProps } from '@mui/material';
import { createLink } from '@tanstack/react-router';
import { forwardRef } from 'react';

const MuiLinkBase = forwardRef<HTMLAnchorElement, LinkProps>((props, ref) => <Link ref={ref} {...props} />);
MuiLinkBase.displayName = 'MuiLinkBase';

const MuiButtonBase = forwardRef<HTMLAnchorElement, ButtonProps<'a'>>((props, ref) => (
  <Button ref={ref} component="a" {...props} />
));
MuiButtonBase.displayName = 'MuiButtonBase';

export const RouterLink = createLink(MuiLinkBase);
export const ButtonLink = createLink(MuiButtonBase);
