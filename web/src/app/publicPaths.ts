/** Pages that work signed out; a 401 there is not a reason to go to the sign-in page. */
export const PUBLIC_PATHS = ['/login', '/signup', '/verify-email', '/reset-password', '/accept-invitation', '/setup'];

export const isPublicPath = (pathname: string) =>
  PUBLIC_PATHS.some((path) => pathname === path || pathname.startsWith(`${path}/`));
