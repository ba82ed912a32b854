"""The requests the participant flow refuses: one exception per answer a view gives, with its HTTP
`status`."""


class FlowError(Exception):
    """A request the flow refuses; `status` is the HTTP status a view answers with."""

    status = 400


class BadInput(FlowError):
    status = 400


class NotFound(FlowError):
    status = 404


class Gone(FlowError):
    """The study is closed (or the participant withdrawn): no more answers are taken."""

    status = 410


class NotReady(FlowError):
    """An open study that cannot run: no arms, no questions or missing explanation images."""

    status = 503


class Paused(FlowError):
    """A paused study: started participants finish, new ones are turned away for now."""

    status = 503


class NotCurrentQuestion(FlowError):
    """An answer to a question the participant has not reached."""

    status = 409


class TooManyParticipants(FlowError):
    """The study's limit of new participants per client was reached
    (Study.new_participants_per_client_hour)."""

    status = 429


class AlreadyTakenPart(FlowError):
    """A returning external ID whose participant completed the study."""

    status = 200


class ScreenedOut(Gone):
    """Someone the study turns away before they start (every arm is full); `forward_url` is the study's
    screened-out redirect ("" without one)."""

    def __init__(self, message: str, forward_url: str = ""):
        super().__init__(message)
        self.forward_url = forward_url
