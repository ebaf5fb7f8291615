"""The POS key scheme in the OpenAPI contract (imported in MiniprogramsConfig.ready())."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PosKeyScheme(OpenApiAuthenticationExtension):
    target_class = "miniprograms.api.pos.PosKeyAuthentication"
    name = "posKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`PosKey <key>`, a store's key from POST /api/v1/console/stores/{store_id}/pos-keys.",
        }
