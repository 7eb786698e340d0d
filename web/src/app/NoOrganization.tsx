import { Button, Paper, TextField, Typography } from '@mui/material';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, unwrap } from '../api/client';
import { setOrgId } from '../api/session';
import { FormAlert } from '../components/FormAlert';
import { PageHeader } from '../components/PageHeader';
import { fieldId, useFormErrors } from '../components/useFormErrors';

/** A signed-in user who belongs to no organisation (e.g. removed from their last one) can create one. */
export function NoOrganization() {
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const form = useFormErrors();
  const create = useMutation({
    mutationFn: (orgName: string) => unwrap(api.POST('/v1/orgs', { body: { name: orgName } })),
    onSuccess: (org) => {
      setOrgId(org.id);
      queryClient.clear();
      window.location.assign('/');
    },
    onError: (error) => form.fail(error),
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (form.invalid(name.trim() ? {} : { name: 'Enter a name for the organisation.' })) return;
    form.reset();
    create.mutate(name.trim());
  };
  return (
    <>
      <PageHeader title="You are not in an organisation" />
      <Paper variant="outlined" component="form" noValidate onSubmit={onSubmit} sx={{ p: 3, maxWidth: 520 }}>
        <Typography sx={{ mb: 1 }}>
          Ask an administrator to invite you, or create an organisation of your own.
        </Typography>
        <FormAlert message={form.formError} />
        <TextField
          id={fieldId('name')}
          label="Organisation name"
          value={name}
          onChange={(event) => setName(event.target.value)}
          error={Boolean(form.errors.name)}
          helperText={form.errors.name}
          required
        />
        <Button type="submit" variant="contained" loading={create.isPending} sx={{ mt: 1 }}>
          Create organisation
        </Button>
      </Paper>
    </>
  );
}
