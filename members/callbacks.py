"""Card events for the WeChat callback pipeline (issue 5): event name -> handler taking the parsed event dict
(wechatpy's keys: FromUserName, CreateTime, Event, CardId, UserCardCode, UnionId ...). Each handler runs in the
brand's schema, is idempotent (a retried event changes nothing) and returns the Member or None."""
from members.services.cards import card_event_submit_user_info, card_event_user_del_card, card_event_user_get_card

CARD_EVENT_HANDLERS = {
    "user_get_card": card_event_user_get_card,
    "submit_membercard_user_info": card_event_submit_user_info,
    "user_del_card": card_event_user_del_card,
}
