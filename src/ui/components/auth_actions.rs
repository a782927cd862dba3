use crate::api::auth::{SignIn, SignOut, SignUp, current_viewer};
use leptos::prelude::*;

/// The sign-in, sign-up and sign-out actions, shared so the header can refresh who is
/// signed in after any of them.
#[derive(Clone, Copy)]
pub struct AuthActions {
    pub sign_in: ServerAction<SignIn>,
    pub sign_up: ServerAction<SignUp>,
    pub sign_out: ServerAction<SignOut>,
}

pub fn provide_auth() -> AuthActions {
    let actions = AuthActions {
        sign_in: ServerAction::new(),
        sign_up: ServerAction::new(),
        sign_out: ServerAction::new(),
    };
    provide_context(actions);
    actions
}

pub fn use_auth() -> AuthActions {
    expect_context::<AuthActions>()
}

/// Who is signed in; refetched after every sign-in, sign-up and sign-out.
pub fn viewer_resource(
    a: AuthActions,
) -> Resource<Result<Option<crate::domain::account::Viewer>, crate::error::AppError>> {
    Resource::new_blocking(
        move || {
            (
                a.sign_in.version().get(),
                a.sign_up.version().get(),
                a.sign_out.version().get(),
            )
        },
        |_| current_viewer(),
    )
}
